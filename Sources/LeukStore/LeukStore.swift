// LeukStore: LevelDB wrapper, typed keyspaces, versioned codecs, encryption at rest.
