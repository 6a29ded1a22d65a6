"""Calendly: webhook payload shapes (and, later, the API client)."""
