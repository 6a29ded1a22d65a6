"""Calendly: webhook payloads and their signature, the API client and its OAuth connection,
subscriptions, features and scopes, event types and links."""
