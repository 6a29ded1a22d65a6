"""The interface every CRM backend implements (one module per provider)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from shared.settings import Settings
from worker.provider import Provider


@dataclass(frozen=True)
class ContactUpdate:
    key: str
    kind: str
    """``contact`` (a booking's invitee) or ``lead`` (a routing form submitter)."""
    contact: dict[str, Any]
    """email, name, phone (E.164), status, event type, scheduled_at, join_url, timezone,
    answers [[question, answer]], lists [Brevo list ids], changed_at (ISO)."""
    event: str | None
    """The automation event to record (``calendly_booked`` ...), or None."""


class CrmBackend(Provider, ABC):
    """Two steps, each made once (the job keeps a send-once key for each), so a retry
    after a failed event does not repeat the upsert's side effects or vice versa."""

    @classmethod
    def from_settings(cls, settings: Settings) -> "CrmBackend":
        """The backend the worker writes through, built once per process."""
        return cls()

    @classmethod
    def setup(cls, settings: Settings) -> list[str] | None:
        """``relay crm setup`` (and the release phase): prepare the account for the relay's
        writes, safely again; one line per thing done. None: nothing to set up."""
        return None

    @classmethod
    def setup_hint(cls, error: Exception) -> str:
        """What to check when ``setup`` failed with ``error`` (appended to its message)."""
        return ""

    @abstractmethod
    def upsert(self, update: ContactUpdate) -> None:
        """Create or update the contact with its attributes and lists."""

    @abstractmethod
    def record_event(self, update: ContactUpdate) -> None:
        """Record ``update.event`` for the contact's automations (no-op when None)."""

    def mark_sms_blacklisted(self, email: str | None, phone: str, blacklisted: bool) -> None:
        """The contact (by e-mail when known, else by its SMS number) blocked from SMS, or
        unblocked: the opt-out list's change (worker/optout.py). A backend without the
        notion does nothing."""
