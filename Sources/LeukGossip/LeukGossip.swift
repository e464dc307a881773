// LeukGossip: The pure gossip-averaging protocol core (Instance + Directives) and its deterministic simulator; no I/O, no clock.
