"""Redis key names and job ids in one place.

Neither Redis keys nor RQ job ids take raw Calendly URIs (RQ ids accept only letters,
digits, ``_`` and ``-``), so every identifier is a digest of what it names."""

from __future__ import annotations

import hashlib
import re

PREFIX = "relay:"
UPCOMING = f"{PREFIX}bookings:upcoming"
"""Sorted set of active bookings' invitee URIs, scored by start time."""
WEBHOOK_STATE = f"{PREFIX}webhook:subscription"
"""The state of this relay's Calendly subscription at the last hourly check."""
WEBHOOK_REFUSALS = f"{PREFIX}webhook:verification:refusals"
"""Sorted set of recent deliveries refused for no_matching_signature (by time)."""
WEBHOOK_VERIFICATION_FAILING = f"{PREFIX}webhook:verification:failing"
"""Present (since, last, refusals, alerted) while deliveries keep failing verification."""
CALENDLY_FEATURES = f"{PREFIX}calendly:features"
"""Per Calendly feature, the last verdict of a check or of a refusal a job met (for /admin)."""
CALENDLY_FORBIDDEN_LOGGED = f"{PREFIX}calendly:forbidden:logged:"
"""+ feature: present while a refusal of that feature has been logged this hour."""
CONFIG_FINGERPRINT = f"{PREFIX}config:fingerprint"
"""sha256 of the planning configuration the pending reminders were planned under (worker/replan.py)."""
CONFIG_REPLAN_LOCK = f"{PREFIX}config:replan:lock"
"""Held by the scheduler that replans after a configuration change, so two starting together replan once."""
RECOVERY_PASS = f"{PREFIX}recovery:last_pass"
"""When the scheduler last looked for abandoned jobs (unix seconds)."""


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def booking(invitee_uri: str) -> str:
    return booking_by_digest(digest(invitee_uri))


def booking_by_digest(invitee_digest: str) -> str:
    return f"{PREFIX}booking:{invitee_digest}"


def bookings_by_email(email: str) -> str:
    """The invitee URIs booked with an e-mail address (for /admin's search), named by a
    digest of the address, so that no address appears in a key."""
    return f"{PREFIX}bookings:email:{digest(email.strip().lower())}"


def dedupe(delivery_id: str) -> str:
    return f"{PREFIX}dedupe:{delivery_id}"


def sent(message_key: str) -> str:
    return f"{PREFIX}sent:{digest(message_key)}"


def waiting_deliveries(invitee_uri: str) -> str:
    """Set of the ids of a booking's deliveries received and not yet applied (shared/waiting.py)."""
    return f"{PREFIX}waiting:{digest(invitee_uri)}"


def event_job(delivery_id: str) -> str:
    """The RQ job id of a delivery's ``process_event``: one per delivery."""
    return f"event-{delivery_id}"


LEDGER_RECENT = f"{PREFIX}ledger:recent"
"""Sorted set of message ids by the time of their latest event (``relay messages list``)."""
LEDGER_ORPHANS = f"{PREFIX}ledger:orphans"
"""List of status rows that matched no message when they arrived, newest first (masked)."""
OPTOUTS = f"{PREFIX}optouts"
"""Hash: digest of an opted-out number → its masked form, when and why (shared/optouts.py)."""


def ledger_message(message_id: str) -> str:
    return f"{PREFIX}msg:{message_id}"


def ledger_booking(invitee_uri: str) -> str:
    """Hash of a booking's message ids (→ kind): a small hash is Redis's most compact set."""
    return f"{PREFIX}ledger:booking:{digest(invitee_uri)}"


def ledger_provider(provider_id: str) -> str:
    """The provider's message id → ours."""
    return f"{PREFIX}ledger:provider:{_short_id(provider_id)}"


def ledger_waiting(provider_id: str) -> str:
    """Status rows for a provider id not (yet) attached to a message, waiting for its send."""
    return f"{PREFIX}ledger:waiting:{_short_id(provider_id)}"


def _short_id(provider_id: str) -> str:
    """A provider's id as it is when short and plain (EngageLab's are 19 digits), else its
    digest: a key per sent message, so every byte counts."""
    return provider_id if re.fullmatch(r"[\w.-]{1,40}", provider_id) else digest(provider_id)


def bookings_by_phone(phone_e164: str) -> str:
    """Sorted set of the invitee URIs of active bookings with this number, by start."""
    return f"{PREFIX}bookings:phone:{digest(phone_e164)}"
