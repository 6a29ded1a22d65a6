"""One way to reach Redis: ``REDIS_URL`` when set, otherwise the embedded server.

Every connection the relay makes (web, worker, scheduler, RQ's, the CLI's) comes from
``connect_for(settings)``, so REDIS_SSL_CERT_REQS applies to all of them: RQ's workers,
their forked work horses and rq-scheduler use the client they are given.
"""

from __future__ import annotations

import logging
import ssl
import time
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import LockNotOwnedError
from redis.retry import Retry

from shared import defaults
from shared.settings import ConfigError, Settings

log = logging.getLogger("relay.redis")

REDIS_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)
"""Redis away (down, restarting, failing over), as opposed to refusing what was asked."""

STARTUP_RETRY_MAX = 5.0
"""Seconds between attempts at most while a worker or scheduler waits for Redis at start."""
LOCK_POLL = 0.05
"""Seconds between attempts at a lock held by someone else."""


def resolve_url(settings: Settings) -> str:
    """The Redis URL to use; starts (or joins) the embedded server when none is set."""
    if settings.redis_url:
        return settings.redis_url
    from shared import embedded_redis

    return embedded_redis.ensure_running()


def connect_for(settings: Settings, *, fail_fast: bool = False) -> redis.Redis:
    """The client a relay process uses: REDIS_URL (or the embedded server) with the
    certificate check of REDIS_SSL_CERT_REQS."""
    return connect(resolve_url(settings), fail_fast=fail_fast, ssl_cert_reqs=settings.redis_ssl_cert_reqs)


def connect(url: str, *, fail_fast: bool = False,
            ssl_cert_reqs: str = defaults.DEFAULT_REDIS_SSL_CERT_REQS) -> redis.Redis:
    """A client for ``url``.

    ``fail_fast`` is for the receiver: short timeouts and no client-side retries, so an
    unreachable Redis turns into a 503 within about a second instead of a hung request.
    ``ssl_cert_reqs`` applies to ``rediss://`` URLs only (redis-py's plain connections
    refuse the argument).
    """
    tls = {"ssl_cert_reqs": ssl_cert_reqs} if urlsplit(url).scheme == "rediss" else {}
    if fail_fast:
        return redis.Redis.from_url(
            url,
            socket_connect_timeout=defaults.WEB_REDIS_CONNECT_TIMEOUT,
            socket_timeout=defaults.WEB_REDIS_SOCKET_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            **tls,
        )
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30, **tls)


def certificate_refusal(error: BaseException) -> ConfigError | None:
    """A ConfigError naming REDIS_SSL_CERT_REQS when ``error`` is a TLS certificate that
    this process could not verify, else None. That is a setting to change, not an outage
    to wait out: retrying gives the same answer for ever."""
    seen = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = getattr(cause, "verify_message", None) or "certificate verify failed"
            return ConfigError(
                f"REDIS_SSL_CERT_REQS: Redis's TLS certificate could not be verified ({reason}). "
                "Heroku's Redis add-on signs its certificates with its own CA: set REDIS_SSL_CERT_REQS=none "
                "there (the connection stays encrypted; the server is not authenticated)")
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def check_certificate(conn: redis.Redis) -> None:
    """One ping at the receiver's start: a certificate Redis cannot be trusted with stops
    the process, naming the variable. Redis merely down does not: the receiver starts and
    answers 503 until it is back, so Calendly retries."""
    try:
        conn.ping()
    except redis.RedisError as error:
        refusal = certificate_refusal(error)
        if refusal is not None:
            raise refusal from None


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
        except REDIS_UNREACHABLE as error:
            refusal = certificate_refusal(error)
            if refusal is not None:
                raise refusal from None
            log.warning("redis unreachable; the %s waits for it (next try in %.0fs)", process, wait,
                        extra={"error": type(error).__name__})
        time.sleep(wait)
        wait = min(STARTUP_RETRY_MAX, wait * 2)


@contextmanager
def held(conn, key: str, ttl: float, wait: float = 0.0) -> Iterator[bool]:
    """redis-py's Lock on ``key``: a lease with a random owner token that expires if its
    holder dies, and that only its owner releases. Yields whether it was acquired within
    ``wait`` seconds. A lease that expired before its release (its holder outlived ``ttl``)
    is left to whoever holds the key now, not deleted under them."""
    lock = conn.lock(key, timeout=ttl, sleep=LOCK_POLL, blocking=wait > 0, blocking_timeout=wait or None)
    acquired = lock.acquire()
    try:
        yield acquired
    finally:
        if acquired:
            try:
                lock.release()
            except LockNotOwnedError:
                pass
