"""Send-once keys for side effects.

Before calling a provider a job claims the message's key with a short "in flight" lease;
after the provider accepted, the key becomes "sent" for weeks. A failed call releases
the key, so a retry or a replay sends. A worker killed mid-call leaves only the lease,
which expires, so the message is retried rather than lost; it can go out twice only if
the provider had accepted it just before the kill.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable

from shared import keys
from shared import defaults
from worker.provider_errors import TransientError

IN_FLIGHT = "in-flight"
SENT_PREFIX = "sent:"
LEASE_SECONDS = defaults.JOB_TIMEOUT + 30


class AlreadyInFlight(TransientError):
    """Another run holds the lease for this message right now (or held it when its worker
    died, until the lease expires): retried later like a provider's transient failure."""

    def __init__(self, message: str):
        super().__init__("relay", message, retry_after=LEASE_SECONDS)


class ClaimRefused(Exception):
    """The command sent with the claim (``refuse_if``) answered yes: the claim was given
    back. ``reason`` is its answer."""

    def __init__(self, answer: Any):
        self.reason = answer.decode() if isinstance(answer, bytes) else answer
        super().__init__(f"claim refused: {self.reason}")


def claim(conn, message_key: str, refuse_if: Callable[[Any, tuple[str, str]], None] | None = None) -> bool:
    """Take the lease; False when the message was already sent. ``refuse_if(pipe, lease)``
    queues one command that travels with the claim, in its round trip (the opt-out list and
    the daily cap); ``lease`` is this run's (key, value), so that a script can tell whether
    the claim was taken. When it answers yes, the lease is given back and ClaimRefused raised."""
    key = keys.sent(message_key)
    lease = (key, f"{IN_FLIGHT}:{secrets.token_hex(8)}")  # this run's, told apart from another's
    taken, refused = _take(conn, lease, refuse_if)
    if not taken:
        value = conn.get(key)
        if value is not None:
            if value.decode().startswith(SENT_PREFIX):
                return False
            raise AlreadyInFlight(f"message {keys.digest(message_key)} is being sent by another run")
        taken, refused = _take(conn, lease, refuse_if)  # the lease expired between the two calls
        if not taken:
            return False
    if refused:
        release(conn, message_key)
        raise ClaimRefused(refused)
    return True


def _take(conn, lease: tuple[str, str], refuse_if) -> tuple[bool, Any]:
    key, value = lease
    if refuse_if is None:
        return bool(conn.set(key, value, nx=True, ex=LEASE_SECONDS)), None
    with conn.pipeline(transaction=False) as pipe:
        pipe.set(key, value, nx=True, ex=LEASE_SECONDS)
        refuse_if(pipe, lease)
        taken, refused = pipe.execute(raise_on_error=False)
    if isinstance(taken, Exception):
        raise taken
    if isinstance(refused, Exception):  # the lease was taken but not checked: not left to block a retry
        if taken:
            conn.eval(GIVE_BACK_OWN, 1, key, value)
        raise refused
    return bool(taken), refused


GIVE_BACK_OWN = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def mark_sent(conn, message_key: str, provider_id: str) -> None:
    conn.set(keys.sent(message_key), SENT_PREFIX + provider_id, ex=defaults.SENT_MARKER_TTL)


def recorded(conn, message_key: str) -> str | None:
    """What the provider answered when this key's effect was done (its id), or None."""
    value = conn.get(keys.sent(message_key))
    text = value.decode() if value else ""
    return text[len(SENT_PREFIX):] if text.startswith(SENT_PREFIX) else None


def release(conn, message_key: str) -> None:
    conn.delete(keys.sent(message_key))


def run_once(conn, message_key: str, effect: Callable[[], str],
             also: Callable[[Any], None] | None = None,
             refuse_if: Callable[[Any], None] | None = None) -> str | None:
    """Run ``effect`` (which returns the provider's id) unless the key was already sent;
    return the provider id, or None for a duplicate. ``also(pipe)`` adds commands (the
    counters) to the transaction that records the key as sent: one round trip.
    ``refuse_if``: see ``claim``."""
    if not claim(conn, message_key, refuse_if):
        return None
    try:
        provider_id = effect()
    except BaseException:
        release(conn, message_key)
        raise
    with conn.pipeline() as pipe:
        mark_sent(pipe, message_key, provider_id)
        if also is not None:
            also(pipe)
        pipe.execute()
    return provider_id
