"""EngageLab SMS: ``POST {ENGAGELAB_API_URL}/v1/messages``, one recipient per request.

Facts (shared/research/providers.md §A): HTTP Basic ``dev_key:dev_secret``; body
``{"to": [...], "template": {"id", "params"}, "custom_args": {...}}``; success carries
``message_id``; a failure is ``{"code", "message"}``, either with an HTTP error status
or with HTTP 200, so both are checked.
"""

from __future__ import annotations

import logging

import requests

from shared import defaults
from shared.http import json_body
from shared.keys import digest
from shared.logs import mask_phone
from worker.provider_errors import PermanentError, TransientError
from worker.sms.base import OutboundSms, SmsBackend

log = logging.getLogger("relay.sms.engagelab")

PROVIDER = "engagelab"

TRANSIENT_CODES = {1000, 5001, 5016}
"""Internal error; send failed; internal sending error (retryable per EngageLab's SDK)."""
FREQUENCY_LIMIT = 3004
"""Same template to the same number too often: retry much later."""
PERMANENT_CODES = {2001, 2002, 2004, 3001, 3002, 3003, 4001} | set(range(5011, 5016)) | set(range(5017, 5021))
"""Credentials, permission, malformed request, business rule, unknown template, and
per-number outcomes (invalid, unreachable, blacklisted, unsubscribed ...)."""
TRANSIENT_HTTP = {429, 500, 502, 503, 504}


class EngageLabSmsBackend(SmsBackend):
    name = PROVIDER

    def __init__(self, api_url: str, dev_key: str, dev_secret: str, session: requests.Session | None = None):
        self.url = f"{api_url.rstrip('/')}/v1/messages"
        self.auth = (dev_key, dev_secret)
        self.session = session or requests.Session()

    def send(self, message: OutboundSms) -> str:
        if not message.template_id:
            raise PermanentError(PROVIDER, f"no template id for {message.kind} messages")
        body = {
            "to": [message.to],
            "template": {"id": str(message.template_id), "params": message.params},
            "custom_args": {"relay_key": digest(message.key), "kind": message.kind},
        }
        try:
            response = self.session.post(
                self.url,
                json=body,
                auth=self.auth,
                timeout=(defaults.HTTP_CONNECT_TIMEOUT, defaults.HTTP_READ_TIMEOUT),
            )
        except requests.Timeout as error:
            raise TransientError(PROVIDER, f"timeout: {type(error).__name__}") from None
        except requests.RequestException as error:
            raise TransientError(PROVIDER, f"network error: {type(error).__name__}") from None
        message_id = parse_response(response)
        log.info("sms %s accepted for %s", message.kind, mask_phone(message.to),
                 extra={"sms_kind": message.kind, "message_id": message_id})
        return message_id


def parse_response(response: requests.Response) -> str:
    """The provider's message id, or raise the classified error."""
    status = response.status_code
    data = json_body(response)
    if not isinstance(data, dict):
        if status in TRANSIENT_HTTP or status >= 500:
            raise TransientError(PROVIDER, "unreadable error response", status=status,
                                 retry_after=_retry_after(response))
        if status >= 400:
            raise PermanentError(PROVIDER, "unreadable error response", status=status)
        raise TransientError(PROVIDER, "unreadable success response", status=status)
    code = data.get("code")
    text = str(data.get("message") or "no message")
    if status < 400 and code in (None, 0, "0"):
        return _accepted_message_id(data, status)
    code = _as_int(code)
    if code == FREQUENCY_LIMIT:
        raise TransientError(PROVIDER, text, code=code, status=status, retry_after=defaults.FREQUENCY_LIMIT_DELAY)
    known_permanent = code in PERMANENT_CODES
    if code in TRANSIENT_CODES or (not known_permanent and (status in TRANSIENT_HTTP or status >= 500)):
        raise TransientError(PROVIDER, text, code=code, status=status, retry_after=_retry_after(response))
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


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
