"""One way to reach Redis: ``REDIS_URL`` when set, otherwise the embedded server."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared import settings as defaults
from shared.settings import Settings


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
