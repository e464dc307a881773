// LeukAPI: The local HTTP API (Hummingbird) that the CLI and the portal talk to.
