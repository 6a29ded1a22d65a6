"""EngageLab callback verification: a pure function, no Flask and no Redis inside.

Facts (https://www.engagelab.com/docs/sms/api/callback, "Callback Security Mechanisms"):
with a username and a secret configured in EngageLab's console, every callback carries

    X-CALLBACK-ID: timestamp={timestamp};nonce={nonce};username={username};signature={signature}

where ``signature`` is the hex HMAC-SHA256 keyed by the secret over ``timestamp + nonce +
username`` (the body is not signed). EngageLab's own verifier (engagelab-otp's
``WebhookVerifier``) also checks the username and a ±300 s window around the timestamp.

The shape follows stripe-python's ``_webhook.py`` (and shared/calendly/signature.py): one
exception with a distinct reason and message per failure, and a helper that builds valid
headers for tests and ``relay simulate``. Whether a nonce was seen before is the caller's
to tell (it needs Redis); ``REUSED_NONCE`` is here so every refusal has one vocabulary.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

HEADER = "X-CALLBACK-ID"
RELAY_ARG = "relay_message"
"""The ``custom_args`` key the relay sends with each SMS (worker/sms/engagelab.py) and
EngageLab echoes in its status rows: the message's ledger id (shared/ledger.py)."""
FIELDS = ("timestamp", "nonce", "username", "signature")
MAX_TIMESTAMP_DIGITS = 12
MAX_NONCE_LENGTH = 128
"""A nonce longer than this is not EngageLab's (its are short random numbers), and it
would become a Redis key."""


class CallbackVerificationError(Exception):
    """The callback is not provably from EngageLab. ``reason`` is a stable code for the
    401 answer, the logs and the metrics."""

    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    WRONG_USERNAME = "wrong_username"
    BAD_SIGNATURE = "bad_signature"
    OUTSIDE_TOLERANCE = "timestamp_outside_tolerance"
    REUSED_NONCE = "reused_nonce"

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class CallbackId:
    timestamp: int
    nonce: str
    username: str
    signature: str


def compute_signature(secret: str, timestamp: int | str, nonce: str, username: str) -> str:
    return hmac.new(secret.encode(), f"{timestamp}{nonce}{username}".encode(), hashlib.sha256).hexdigest()


def generate_header(secret: str, username: str, *, timestamp: int | None = None, nonce: str | None = None,
                    signature: str | None = None) -> str:
    """A header as EngageLab would send it; ``signature`` overrides the computed one."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = str(secrets.randbelow(10**18)) if nonce is None else nonce
    signature = compute_signature(secret, timestamp, nonce, username) if signature is None else signature
    return f"timestamp={timestamp};nonce={nonce};username={username};signature={signature}"


def parse_header(header: str) -> CallbackId:
    """The header's four fields, or raise ``malformed_header`` saying which is wrong."""
    values: dict[str, str] = {}
    for item in header.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep and key.strip() in FIELDS:
            values.setdefault(key.strip(), value.strip())
    missing = [name for name in FIELDS if not values.get(name)]
    if missing:
        raise CallbackVerificationError(CallbackVerificationError.MALFORMED_HEADER,
                                        f"{HEADER} has no {', '.join(missing)}; expected "
                                        "timestamp={t};nonce={n};username={u};signature={s}")
    timestamp = values["timestamp"]
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        raise CallbackVerificationError(CallbackVerificationError.MALFORMED_HEADER,
                                        f"{HEADER} timestamp is not unix seconds")
    if len(values["nonce"]) > MAX_NONCE_LENGTH or not values["nonce"].isprintable():
        raise CallbackVerificationError(CallbackVerificationError.MALFORMED_HEADER,
                                        f"{HEADER} nonce is longer than {MAX_NONCE_LENGTH} characters or unprintable")
    return CallbackId(int(timestamp), values["nonce"], values["username"], values["signature"].lower())


def verify_header(header: str | None, *, secret: str, username: str, tolerance: int,
                  now: float | None = None) -> CallbackId:
    """Return the verified header's fields (the caller claims its nonce), or raise
    ``CallbackVerificationError``. Comparisons of the username and the signature are
    constant-time; the timestamp may be ``tolerance`` seconds off either way."""
    if not header:
        raise CallbackVerificationError(CallbackVerificationError.MISSING_HEADER, f"no {HEADER} header")
    parsed = parse_header(header)
    if not hmac.compare_digest(parsed.username.encode(), username.encode()):
        raise CallbackVerificationError(CallbackVerificationError.WRONG_USERNAME,
                                        f"{HEADER} username is not ENGAGELAB_CALLBACK_USERNAME")
    expected = compute_signature(secret, parsed.timestamp, parsed.nonce, parsed.username)
    if not hmac.compare_digest(expected.encode(), parsed.signature.encode()):
        raise CallbackVerificationError(CallbackVerificationError.BAD_SIGNATURE,
                                        f"{HEADER} signature does not match ENGAGELAB_CALLBACK_SECRET")
    now = time.time() if now is None else now
    if abs(now - parsed.timestamp) > tolerance:
        raise CallbackVerificationError(CallbackVerificationError.OUTSIDE_TOLERANCE,
                                        f"{HEADER} timestamp is {int(now - parsed.timestamp)} s from now, "
                                        f"more than {tolerance} s (ENGAGELAB_CALLBACK_TOLERANCE)")
    return parsed


def reused_nonce() -> CallbackVerificationError:
    return CallbackVerificationError(CallbackVerificationError.REUSED_NONCE,
                                     f"{HEADER} nonce was already used: a replayed callback")


def authorization_matches(given: str | None, expected: str) -> bool:
    """The ``Authorization`` header against ENGAGELAB_CALLBACK_AUTHORIZATION, constant-time."""
    return hmac.compare_digest((given or "").strip().encode(), expected.strip().encode())
