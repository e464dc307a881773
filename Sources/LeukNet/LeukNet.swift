// LeukNet: The SwiftNIO shell: handshake and secretstream channel handlers, peer connections, the gossip driver.
