"""``relay config check``: the effective configuration with secrets masked, and with
``--remote`` whether the providers agree with it."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Iterator

from shared.calendly import credentials
from shared.settings import Settings
from worker import providers

SECRET_FIELDS = {"signing_key", "previous_signing_keys", "calendly_access_token", "calendly_client_secret",
                 "admin_token"}
"""Shown as set or not; so is any setting declared with ``repr=False`` (a provider's too)."""
HIDDEN_FIELDS = {"secrets", "relay_config", "providers"}


def describe(settings: Settings) -> list[str]:
    lines = ["configuration is valid; effective settings:"]
    for item in fields(settings):
        if item.name not in HIDDEN_FIELDS:
            lines.append(f"  {item.name:<24} {_shown(item, getattr(settings, item.name))}")
    for provider, config in sorted(settings.providers.items()):
        for item in fields(config):
            lines.append(f"  {provider + '.' + item.name:<24} {_shown(item, getattr(config, item.name))}")
    config = settings.relay_config
    lines.append(f"  {'RELAY_CONFIG':<24} {len(config.event_types)} event type override(s), "
                 f"{len(config.event_mapping)} list mapping(s), "
                 f"field_mapping {'customised' if config.field_mapping else 'default'}")
    if credentials.kind(settings) == credentials.OAUTH:
        lines.append(f"note: {credentials.OAUTH_SIGNING_KEY_NOTE}")
    return lines


def _shown(item, value) -> object:
    if item.name in SECRET_FIELDS or not item.repr:
        return "set (hidden)" if value else "not set"
    if item.name == "redis_url" and value:
        return re.sub(r"//[^@/]*@", "//***@", value)  # a password in the URL stays hidden
    if item.name == "templates":
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "none set"
    if item.name == "reminder_offsets":
        return ", ".join(str(o) for o in value) or "off"
    return value


def remote_checks(settings: Settings, conn=None) -> Iterator[tuple[bool, str]]:
    """(ok, what) for each remote fact the configuration depends on: each chosen provider's
    own check, then Calendly's features. ``conn`` (Redis) holds the OAuth tokens, and keeps
    the Calendly results for /admin."""
    yield from providers.remote_checks(settings)
    if credentials.kind(settings):
        yield from _calendly_features(settings, conn)


def _calendly_features(settings: Settings, conn) -> Iterator[tuple[bool, str]]:
    """One line per feature, the same with a personal token and with OAuth."""
    from redis.exceptions import RedisError

    from shared.calendly import features, oauth

    results = [features.oauth_result(conn, settings)]
    if results[0].outcome == features.OK or not results[0].needed:
        results = features.probe(oauth.api_client(conn, settings, rate_limit_waits=1), settings) + results
    else:  # no usable OAuth token: every API feature waits on it
        results += [features.Result(f, results[0].outcome, features.needed(f, settings))
                    for f in features.FEATURES if f is not features.OAUTH]
    try:
        features.record(conn, results)
    except RedisError:  # the check's answer matters more than /admin's copy of it
        pass
    for result in results:
        yield result.ok, result.line()
