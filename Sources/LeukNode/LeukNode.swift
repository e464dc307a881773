// LeukNode: Wires trainer, gossip shell, clinic and store into one running node; lifecycle and config.
