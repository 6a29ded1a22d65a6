"""Calendly webhook signature verification: a pure function, no Flask inside.

Calendly sends ``Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``
where the HMAC covers ``t + "." + raw body bytes`` with the subscription's signing key.
The shape follows stripe-python's ``_webhook.py``: one exception, a distinct reason and
message per failure, and a helper that produces valid headers for tests and simulations.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Calendly-Webhook-Signature"
SCHEME = "v1"
MAX_TIMESTAMP_DIGITS = 12
"""Unix seconds have 10 digits until 2286; a longer ``t`` is not a timestamp."""


class SignatureVerificationError(Exception):
    """The delivery is not provably from Calendly. ``reason`` is a stable code for logs
    and metrics; ``age`` is how old ``t`` was, when it could be read."""

    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    NO_MATCHING_SIGNATURE = "no_matching_signature"
    TOO_OLD = "too_old"
    FROM_FUTURE = "from_future"

    def __init__(self, reason: str, message: str, age: float | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.age = age


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def generate_header(
    payload: bytes,
    secret: str,
    timestamp: int | None = None,
    signatures: list[str] | None = None,
) -> str:
    """A header as Calendly would send it; ``signatures`` overrides the computed one."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    if signatures is None:
        signatures = [compute_signature(payload, secret, timestamp)]
    return ",".join([f"t={timestamp}"] + [f"{SCHEME}={s}" for s in signatures])


def parse_header(header: str) -> tuple[int, list[str]]:
    """Return ``(t, [v1 signatures])`` or raise for a header that cannot be read."""
    timestamp = None
    signatures = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "t" and timestamp is None:
            timestamp = value
        elif key == SCHEME and value:
            signatures.append(value.lower())
    if timestamp is None or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        raise SignatureVerificationError(
            SignatureVerificationError.MALFORMED_HEADER,
            "signature header has no numeric t= timestamp of unix seconds",
        )
    if not signatures:
        raise SignatureVerificationError(
            SignatureVerificationError.MALFORMED_HEADER,
            f"signature header has no {SCHEME}= signature",
        )
    return int(timestamp), signatures


def verify_signature(
    payload: bytes,
    header: str | None,
    secret: str,
    tolerance: float,
    future_skew: float,
    now: float | None = None,
) -> int:
    """Verify ``header`` for ``payload``; return the signed timestamp.

    The signature is checked before the age, so only a genuine delivery learns that it
    was too old. Any matching ``v1`` is accepted, which allows key rotation.
    """
    if not header or not header.strip():
        raise SignatureVerificationError(
            SignatureVerificationError.MISSING_HEADER,
            f"the {HEADER} header is missing",
        )
    timestamp, signatures = parse_header(header)
    expected = compute_signature(payload, secret, timestamp).encode()
    # Bytes, not str: compare_digest refuses non-ASCII str, and the header is untrusted.
    if not any(hmac.compare_digest(expected, c.encode()) for c in signatures):
        raise SignatureVerificationError(
            SignatureVerificationError.NO_MATCHING_SIGNATURE,
            "no signature in the header matches the body and signing key",
            age=_age(timestamp, now),
        )
    age = _age(timestamp, now)
    if age > tolerance:
        raise SignatureVerificationError(
            SignatureVerificationError.TOO_OLD,
            f"signature timestamp is {int(age)} s old, more than the {int(tolerance)} s tolerance",
            age=age,
        )
    if -age > future_skew:
        raise SignatureVerificationError(
            SignatureVerificationError.FROM_FUTURE,
            f"signature timestamp is {int(-age)} s in the future",
            age=age,
        )
    return timestamp


def verify_with_any_key(payload: bytes, header: str | None, secrets: tuple[str, ...], tolerance: float,
                        future_skew: float, now: float | None = None) -> int:
    """``verify_signature`` with each key in turn (several during a key rotation): the
    first key whose signature matches decides; "no match" only when none does."""
    for secret in secrets[:-1]:
        try:
            return verify_signature(payload, header, secret, tolerance, future_skew, now)
        except SignatureVerificationError as error:
            if error.reason != SignatureVerificationError.NO_MATCHING_SIGNATURE:
                raise
    return verify_signature(payload, header, secrets[-1], tolerance, future_skew, now)


def _age(timestamp: int, now: float | None) -> float:
    return (time.time() if now is None else now) - timestamp
