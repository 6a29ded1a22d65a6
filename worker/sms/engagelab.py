"""EngageLab SMS: ``POST {ENGAGELAB_API_URL}/v1/messages``, one recipient per request.

Everything about EngageLab is here: its variables (ENGAGELAB_*), sending, the
classification of its answers, and the check of ``relay config check --remote`` (are the
templates approved?).

Facts (shared/research/providers.md §A): HTTP Basic ``dev_key:dev_secret``; body
``{"to": [...], "template": {"id", "params"}, "custom_args": {...}}``; success carries
``message_id``; a failure is ``{"code", "message"}``, either with an HTTP error status
or with HTTP 200, so both are checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterator

import requests

from shared.environment import Environment
from shared.errors import ConfigError
from shared.http import HttpClient, json_body, retry_after
from shared import ledger
from shared.scrub import mask_phone
from shared.settings import Settings
from worker.provider_errors import PermanentError, TransientError, unreachable
from worker.sms.base import OutboundSms, SmsBackend

log = logging.getLogger("relay.sms.engagelab")

PROVIDER = "engagelab"
DEFAULT_API_URL = "https://smsapi.engagelab.com"

TRANSIENT_CODES = {1000, 5001, 5016}
"""Internal error; send failed; internal sending error (retryable per EngageLab's SDK)."""
FREQUENCY_LIMIT = 3004
"""Same template to the same number too often: retry much later."""
FREQUENCY_LIMIT_DELAY = 3600
PERMANENT_CODES = {2001, 2002, 2004, 3001, 3002, 3003, 4001} | set(range(5011, 5016)) | set(range(5017, 5021))
"""Credentials, permission, malformed request, business rule, unknown template, and
per-number outcomes (invalid, unreachable, blacklisted, unsubscribed ...)."""
OPTED_OUT_CODES = {5013, 5019}
"""Number blacklisted; user unsubscribed: the person does not want the messages
(research/providers.md A.3, "5019 ... also mark opted-out")."""
TRANSIENT_HTTP = {429, 500, 502, 503, 504}
TEMPLATE_STATES = {1: "pending review", 2: "approved", 3: "rejected"}


@dataclass(frozen=True)
class EngageLabSettings:
    dev_key: str | None = None
    dev_secret: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL


class EngageLabSmsBackend(SmsBackend):
    name = PROVIDER

    def __init__(self, api_url: str, dev_key: str, dev_secret: str, session: requests.Session | None = None):
        self.http = HttpClient(api_url, unreachable(PROVIDER), auth=(dev_key, dev_secret), session=session)
        self.session = self.http.session

    # --- its settings (worker/provider.py) ---------------------------------------------

    @classmethod
    def read_settings(cls, env: Environment) -> EngageLabSettings:
        with env.prefixed("ENGAGELAB_"):
            return EngageLabSettings(env.read("str", "DEV_KEY"), env.read("str", "DEV_SECRET"),
                                     env.read("http_url", "API_URL", DEFAULT_API_URL))

    @classmethod
    def configured(cls, config: EngageLabSettings) -> bool:
        return bool(config.dev_key)

    @classmethod
    def check_settings(cls, config: EngageLabSettings, variable: str) -> None:
        for name, value in (("ENGAGELAB_DEV_KEY", config.dev_key), ("ENGAGELAB_DEV_SECRET", config.dev_secret)):
            if not value:
                raise ConfigError(f"{name} is required when {variable}={PROVIDER}")

    @classmethod
    def secrets(cls, config: EngageLabSettings) -> tuple[str, ...]:
        return (config.dev_secret,) if config.dev_secret else ()

    @classmethod
    def from_settings(cls, settings: Settings) -> "EngageLabSmsBackend":
        config: EngageLabSettings = settings.providers[PROVIDER]
        return cls(config.api_url, config.dev_key, config.dev_secret)

    @classmethod
    def remote_checks(cls, settings: Settings) -> Iterator[tuple[bool, str]]:
        """Every template the configuration names (TEMPLATE_ID_*, RELAY_CONFIG) approved."""
        ids = set(settings.templates.values())
        for overrides in settings.relay_config.event_types.values():
            ids |= {template for template in overrides.templates.values() if template}
        config: EngageLabSettings = settings.providers[PROVIDER]
        http = HttpClient(config.api_url, lambda error: _Unreachable(type(error).__name__),
                          auth=(config.dev_key, config.dev_secret))
        for template_id in sorted(ids):
            try:
                response = http.request("GET", f"/v1/template-configs/{template_id}")
            except _Unreachable as cause:
                yield False, f"EngageLab template {template_id}: cannot reach EngageLab ({cause})"
                continue
            yield _template_verdict(template_id, response)

    # --- sending -------------------------------------------------------------------------

    def refused_as_opted_out(self, error: Exception) -> bool:
        try:
            return int(getattr(error, "code", None)) in OPTED_OUT_CODES
        except (TypeError, ValueError):
            return False

    def send(self, message: OutboundSms) -> str:
        if not message.template_id:
            raise PermanentError(PROVIDER, f"no template id for {message.kind} messages")
        body = {
            "to": [message.to],
            "template": {"id": str(message.template_id), "params": message.params},
            # Echoed in EngageLab's status callbacks: the ledger entry they belong to
            # (https://www.engagelab.com/docs/sms/api/send-message; research/providers.md A.2).
            "custom_args": {"relay_message": ledger.message_id(message.key), "kind": message.kind},
        }
        message_id = parse_response(self.http.request("POST", "/v1/messages", json=body))
        log.info("sms %s accepted for %s", message.kind, mask_phone(message.to),
                 extra={"sms_kind": message.kind, "message_id": message_id})
        return message_id


class _Unreachable(Exception):
    """The template check could not reach EngageLab; the message is the exception's type."""


def _template_verdict(template_id: str, response: requests.Response) -> tuple[bool, str]:
    data = json_body(response) or {}
    template = data.get("data", data) if isinstance(data, dict) else {}
    status = template.get("status") if isinstance(template, dict) else None
    if response.status_code >= 400:
        message = data.get("message", "") if isinstance(data, dict) else ""
        return False, f"EngageLab template {template_id}: HTTP {response.status_code} {message}".strip()
    if status == 2:
        return True, f"EngageLab template {template_id} is approved"
    return False, f"EngageLab template {template_id} is {TEMPLATE_STATES.get(status, f'status {status}')}, not approved"


# --- its answers ----------------------------------------------------------------------

def parse_response(response: requests.Response) -> str:
    """The provider's message id, or raise the classified error."""
    status = response.status_code
    data = json_body(response)
    if not isinstance(data, dict):
        if status in TRANSIENT_HTTP or status >= 500:
            raise TransientError(PROVIDER, "unreadable error response", status=status, retry_after=retry_after(response))
        if status >= 400:
            raise PermanentError(PROVIDER, "unreadable error response", status=status)
        raise TransientError(PROVIDER, "unreadable success response", status=status)
    code = data.get("code")
    text = str(data.get("message") or "no message")
    if status < 400 and code in (None, 0, "0"):
        return _accepted_message_id(data, status)
    code = _as_int(code)
    if code == FREQUENCY_LIMIT:
        raise TransientError(PROVIDER, text, code=code, status=status, retry_after=FREQUENCY_LIMIT_DELAY)
    known_permanent = code in PERMANENT_CODES
    if code in TRANSIENT_CODES or (not known_permanent and (status in TRANSIENT_HTTP or status >= 500)):
        raise TransientError(PROVIDER, text, code=code, status=status, retry_after=retry_after(response))
    # Known permanent codes, and any other refusal: retrying blindly could spam a number.
    raise PermanentError(PROVIDER, text, code=code, status=status)


def _accepted_message_id(data: dict, status: int) -> str:
    """A 200 without an error code is a send only if EngageLab took the one recipient and
    named the message (``{"plan_id", "total_count": 1, "accepted_count": 1, "message_id"}``,
    providers.md §A.3). ``accepted_count: 0`` means the recipient was refused; a 200 with
    no ``message_id`` cannot be told apart from a send that went nowhere, and a message
    that cannot be traced is not recorded as sent. Both are permanent: retrying blindly
    could text the person twice, so the job fails where an operator sees it."""
    accepted = _as_int(data.get("accepted_count"))
    if accepted == 0:
        raise PermanentError(PROVIDER, "accepted no recipient (accepted_count 0)", status=status)
    message_id = data.get("message_id")
    if not message_id:
        raise PermanentError(PROVIDER, "answered without a message id; not taken for sent", status=status)
    return str(message_id)


def _as_int(code) -> int | None:
    try:
        return int(code)
    except (TypeError, ValueError):
        return None
