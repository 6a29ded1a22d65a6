"""Exceptions shared by every process."""


class RelayError(Exception):
    """An exception whose message the relay composed itself: it names fields, codes and
    reasons, never the personal data of a payload. Its message may be logged as it is
    (still through the scrubber); any other exception's message is logged with its
    quoted values masked, because Python's own messages quote the data they choke on
    (``invalid literal for int() with base 10: 'Jane'``)."""


class ConfigError(RelayError):
    """A setting is missing or invalid; the message names the variable (or the key of
    RELAY_CONFIG) and what is wrong with it."""
