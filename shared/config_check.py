"""``relay config check``: the effective configuration with secrets masked, and with
``--remote`` whether the providers agree with it."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Iterator

from shared.calendly import credentials
from shared.settings import Settings

SECRET_FIELDS = {"signing_key", "previous_signing_keys", "engagelab_dev_secret", "brevo_api_key",
                 "calendly_access_token", "calendly_client_secret", "admin_token"}
"""Shown as set or not; so is any setting declared with ``repr=False``."""
HIDDEN_FIELDS = {"secrets", "relay_config"}


def describe(settings: Settings) -> list[str]:
    lines = ["configuration is valid; effective settings:"]
    for item in fields(settings):
        if item.name in HIDDEN_FIELDS:
            continue
        value = getattr(settings, item.name)
        if item.name in SECRET_FIELDS or not item.repr:
            value = "set (hidden)" if value else "not set"
        elif item.name == "redis_url" and value:
            value = re.sub(r"//[^@/]*@", "//***@", value)  # a password in the URL stays hidden
        elif item.name == "templates":
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "none set"
        elif item.name == "reminder_offsets":
            value = ", ".join(str(o) for o in value) or "off"
        lines.append(f"  {item.name:<24} {value}")
    config = settings.relay_config
    lines.append(f"  {'RELAY_CONFIG':<24} {len(config.event_types)} event type override(s), "
                 f"{len(config.event_mapping)} list mapping(s), "
                 f"field_mapping {'customised' if config.field_mapping else 'default'}")
    if credentials.kind(settings) == credentials.OAUTH:
        lines.append(f"note: {credentials.OAUTH_SIGNING_KEY_NOTE}")
    return lines


def remote_checks(settings: Settings, conn=None) -> Iterator[tuple[bool, str]]:
    """(ok, what) for each remote fact the configuration depends on. ``conn`` (Redis)
    holds the OAuth tokens, and keeps the Calendly results for /admin."""
    if settings.sms_backend == "engagelab":
        yield from _engagelab_templates(settings)
    if settings.crm_backend == "brevo":
        yield from _brevo_attributes(settings)
    if credentials.kind(settings):
        yield from _calendly_features(settings, conn)


def _engagelab_templates(settings: Settings) -> Iterator[tuple[bool, str]]:
    import requests

    from shared import defaults
    from shared.http import json_body

    ids = {template for template in settings.templates.values()}
    for overrides in settings.relay_config.event_types.values():
        ids |= {template for template in overrides.templates.values() if template}
    for template_id in sorted(ids):
        try:
            response = requests.get(f"{settings.engagelab_api_url}/v1/template-configs/{template_id}",
                                    auth=(settings.engagelab_dev_key, settings.engagelab_dev_secret),
                                    timeout=(defaults.HTTP_CONNECT_TIMEOUT, defaults.HTTP_READ_TIMEOUT))
        except requests.RequestException as error:
            yield False, f"EngageLab template {template_id}: cannot reach EngageLab ({type(error).__name__})"
            continue
        data = json_body(response) or {}
        template = data.get("data", data) if isinstance(data, dict) else {}
        status = template.get("status") if isinstance(template, dict) else None
        if response.status_code >= 400:
            yield False, f"EngageLab template {template_id}: HTTP {response.status_code} {data.get('message', '')}".strip()
        elif status == 2:
            yield True, f"EngageLab template {template_id} is approved"
        else:
            label = {1: "pending review", 3: "rejected"}.get(status, f"status {status}")
            yield False, f"EngageLab template {template_id} is {label}, not approved"


def _brevo_attributes(settings: Settings) -> Iterator[tuple[bool, str]]:
    from worker.crm.brevo import BrevoClient
    from worker.crm.fields import attribute_types, effective_mapping
    from worker.provider_errors import ProviderError

    try:
        existing = {a["name"] for a in BrevoClient(settings.brevo_api_url, settings.brevo_api_key).attributes()}
    except ProviderError as error:
        yield False, f"Brevo: {error}"
        return
    for name in attribute_types(effective_mapping(settings.relay_config.field_mapping)):
        if name in existing:
            yield True, f"Brevo attribute {name} exists"
        else:
            yield False, f"Brevo attribute {name} is missing (run: relay crm setup)"


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
