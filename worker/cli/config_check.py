"""``relay config check``: the effective configuration with secrets masked, and with
``--remote`` whether the providers agree with it."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Iterator

from babel import Locale

from shared.calendly import credentials
from shared.locales import DEFAULT_KEY
from shared.settings import Settings
from shared.vocabulary import SmsKind
from worker import providers
from worker.policy import policy_for

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
    lines += template_coverage(settings)
    if credentials.kind(settings) == credentials.OAUTH:
        lines.append(f"note: {credentials.OAUTH_SIGNING_KEY_NOTE}")
    return lines


def locales_in_use(settings: Settings) -> list[str]:
    """The locales people get: LOCALE, LOCALE_BY_COUNTRY's and the event types'."""
    found = [settings.locale, *settings.locale_by_country.values(),
             *(o.locale for o in settings.relay_config.event_types.values() if o.locale)]
    return list(dict.fromkeys(found))


def template_coverage(settings: Settings) -> list[str]:
    """Per locale in use (and per event type that overrides templates or the locale), the
    message kinds without a template, those RELAY_CONFIG disables, and those that would go
    in the template of another language (a ``default`` or TEMPLATE_ID_*)."""
    lines = ["templates per locale (a kind without one is not sent, except by the console backend):"]
    scopes = [("", policy_for(settings, None, None), locales_in_use(settings))]
    for key, overrides in sorted(settings.relay_config.event_types.items()):
        if overrides.templates or overrides.locale:
            scopes.append((f"event type {key!r}, ", policy_for(settings, key, key),
                           [overrides.locale] if overrides.locale else locales_in_use(settings)))
    for label, policy, locales in scopes:
        for locale in locales:
            lines.append(f"  {label}{locale}: {_coverage(policy, locale, settings.locale)}")
    return lines


def _coverage(policy, locale: str, default_locale: str) -> str:
    missing, disabled, foreign = [], [], []
    other_language = Locale.parse(locale).language != Locale.parse(default_locale).language
    for kind in SmsKind:
        source = policy.source(kind, locale)
        if not source.found:
            missing.append(kind.value)
        elif source.template is None:
            disabled.append(kind.value)
        elif other_language and (source.where.endswith(DEFAULT_KEY) or source.where.startswith("TEMPLATE_ID_")
                                 or source.where in ("templates", "event type")):
            foreign.append(kind.value)
    parts = [f"{what}: {', '.join(kinds)}" for what, kinds in (
        ("no template", missing), ("disabled", disabled), (f"not in {locale}'s language", foreign)) if kinds]
    return "; ".join(parts) or "every kind has a template"


def _shown(item, value) -> object:
    if item.name in SECRET_FIELDS or not item.repr:
        return "set (hidden)" if value else "not set"
    if item.name == "redis_url" and value:
        return re.sub(r"//[^@/]*@", "//***@", value)  # a password in the URL stays hidden
    if item.name == "templates":
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "none set"
    if item.name == "reminder_offsets":
        return ", ".join(str(o) for o in value) or "off"
    if item.name in ("quiet_hours", "host_quiet_hours"):
        return value or "off"
    if item.name == "quiet_hours_apply_to":
        return ", ".join(sorted(value)) or "none"
    if item.name == "locale_by_country":
        return ",".join(f"{region}={locale}" for region, locale in sorted(value.items())) or "not set"
    if item.name == "host_timezone":
        return value or "DEFAULT_TIMEZONE"
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
