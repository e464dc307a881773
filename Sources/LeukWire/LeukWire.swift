// LeukWire: Wire messages and their binary codec: handshake messages, frames, signed model updates.
