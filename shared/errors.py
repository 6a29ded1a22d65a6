"""Exceptions shared by every process."""


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable (or the key of
    RELAY_CONFIG) and what is wrong with it."""
