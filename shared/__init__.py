"""What the receiver, the workers and the CLI share: settings, Calendly payloads,
the Redis connection, the booking store, phone and time formatting, logging."""
