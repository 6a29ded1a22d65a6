"""Turn marshmallow's nested error messages into one line that names the field."""

from __future__ import annotations

from typing import Any

SKIPPED_SEGMENTS = {"value", "key"}
"""marshmallow's Dict field nests errors under "value"/"key"; they add nothing to a path."""


def first_error(messages: Any, prefix: str = "") -> str:
    """``{"payload": {"uri": ["Missing data"]}}`` → ``payload.uri: Missing data``."""
    path = prefix.rstrip(".")
    while isinstance(messages, dict) and messages:
        key, messages = sorted(messages.items(), key=lambda kv: str(kv[0]))[0]
        if str(key) not in SKIPPED_SEGMENTS:
            path = f"{path}.{key}" if path else str(key)
    text = messages[0] if isinstance(messages, list) and messages else messages
    return f"{path or 'body'}: {text}"
