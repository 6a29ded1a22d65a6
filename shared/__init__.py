"""What the receiver, the workers and the CLI share: defaults and settings, the vocabulary,
Calendly (payloads, signature, API client), the Redis connection, the booking store, phone
and time formatting, logging. It imports neither web/ nor worker/ (tests/test_layers.py)."""
