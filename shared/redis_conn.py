"""One way to reach Redis: ``REDIS_URL`` when set, otherwise the embedded server."""

from __future__ import annotations

import logging
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared import settings as defaults
from shared.settings import ConfigError, Settings

log = logging.getLogger("relay.redis")

STARTUP_RETRY_MAX = 5.0
"""Seconds between attempts at most while a worker or scheduler waits for Redis at start."""


def resolve_url(settings: Settings) -> str:
    """The Redis URL to use; starts (or joins) the embedded server when none is set."""
    if settings.redis_url:
        return settings.redis_url
    from shared import embedded_redis

    return embedded_redis.ensure_running()


def connect(url: str, *, fail_fast: bool = False) -> redis.Redis:
    """A client for ``url``.

    ``fail_fast`` is for the receiver: short timeouts and no client-side retries, so an
    unreachable Redis turns into a 503 within about a second instead of a hung request.
    """
    if fail_fast:
        return redis.Redis.from_url(
            url,
            socket_connect_timeout=defaults.WEB_REDIS_CONNECT_TIMEOUT,
            socket_timeout=defaults.WEB_REDIS_SOCKET_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def wait_until_reachable(conn: redis.Redis, process: str) -> None:
    """Block until Redis answers, for ``relay worker`` and ``relay scheduler``: started
    while Redis restarts (a deploy, a failover), they wait for it rather than exit, which
    on Heroku-style platforms can mean a restart cool-off of many minutes. Credentials
    that Redis refuses are a misconfiguration and stop the process at once."""
    wait = 0.5
    while True:
        try:
            conn.ping()
            return
        except (redis.AuthenticationError, redis.exceptions.AuthorizationError) as error:
            raise ConfigError(f"REDIS_URL: Redis refused the credentials ({error})") from None
        except (redis.ConnectionError, redis.TimeoutError) as error:
            log.warning("redis unreachable; the %s waits for it (next try in %.0fs)", process, wait,
                        extra={"error": type(error).__name__})
        time.sleep(wait)
        wait = min(STARTUP_RETRY_MAX, wait * 2)
