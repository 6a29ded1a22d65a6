"""The receiver: verify the signature, validate, dedupe and enqueue. Nothing slow."""
