"""``relay release``: the Procfile's ``release:`` process, which Heroku-style platforms run
once per new release, before any of its dynos start (Heroku, Dokku; a failure keeps the
current release running).

1. The configuration, as every process will read it (``relay config check``), with the web
   process's own requirement (the signing key): a misconfiguration fails the release with
   the variable's name instead of crashing the new dynos one by one.
2. Redis: set (each process would otherwise run an embedded Redis of its own), its
   certificate verifiable as REDIS_SSL_CERT_REQS says and the credentials accepted. Redis
   merely unreachable does not fail the release: the processes wait for it.
3. ``relay crm setup`` when the Brevo backend is configured: an upgrade that maps a new
   attribute creates it before any worker syncs a contact with it (Brevo refuses a
   contact with an unknown attribute). It only creates what is missing: a second run
   changes nothing.

Quick by construction: one Redis ping with the receiver's short timeouts, one Brevo read
and a write per missing attribute, each call bounded by the HTTP timeouts.
"""

from __future__ import annotations

import time
from typing import Callable

from shared.settings import ConfigError, Settings
from worker import context, providers
from worker.cli.config_check import describe
from worker.provider_errors import ProviderError

COMMAND = "relay release"
"""The Procfile's ``release:`` line. Not one of the long-running PROCESSES: ``relay dev``
and docker compose never run it (with compose: ``docker compose run --rm web relay release``)."""


class ReleaseFailed(Exception):
    """A step that is not a misconfiguration of ours failed (Brevo refused or is down):
    the release stops, and the platform keeps the current one running."""


def run(settings: Settings, say: Callable[[str], None] = print) -> None:
    """Every step, or ConfigError / ReleaseFailed naming what to fix."""
    started = time.monotonic()
    settings.check_web()
    context.current()  # the SMS and CRM backends can be built with these credentials
    for line in describe(settings):
        say(line)
    say(_check_redis(settings))
    for line in _crm_setup(settings):
        say(line)
    say(f"release: done in {time.monotonic() - started:.1f} s")


def _check_redis(settings: Settings) -> str:
    import redis

    from shared.redis_conn import certificate_refusal, connect_for

    if not settings.redis_url:
        raise ConfigError("REDIS_URL is not set: on a platform every process would run an embedded Redis of its "
                          "own, and the worker would never see what the receiver accepted (attach a Redis add-on)")
    conn = connect_for(settings, fail_fast=True)
    try:
        conn.ping()
    except (redis.AuthenticationError, redis.exceptions.AuthorizationError) as error:
        raise ConfigError(f"REDIS_URL: Redis refused the credentials ({error})") from None
    except redis.RedisError as error:
        refusal = certificate_refusal(error)
        if refusal is not None:
            raise refusal from None
        return (f"release: redis unreachable just now ({type(error).__name__}); not a reason to stop the release: "
                "the processes wait for it")
    finally:
        conn.close()
    tls = f"TLS, certificate check {settings.redis_ssl_cert_reqs}" if settings.redis_url.startswith("rediss:") \
        else "no TLS"
    return f"release: redis answers ({tls})"


def _crm_setup(settings: Settings) -> list[str]:
    try:
        done = providers.setup_crm(settings)
    except ProviderError as error:
        raise ReleaseFailed(f"relay crm setup: {error}{providers.setup_hint(settings, error)}") from None
    if done is None:
        return [f"release: CRM_BACKEND={settings.crm_backend}: no Brevo attributes to set up"]
    return [f"release: {settings.crm_backend} {line}" for line in done]
