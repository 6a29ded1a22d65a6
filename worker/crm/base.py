"""The interface every CRM backend implements (one module per provider)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


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


class CrmBackend(ABC):
    """Two steps, each made once (the job keeps a send-once key for each), so a retry
    after a failed event does not repeat the upsert's side effects or vice versa."""

    name: str

    @abstractmethod
    def upsert(self, update: ContactUpdate) -> None:
        """Create or update the contact with its attributes and lists."""

    @abstractmethod
    def record_event(self, update: ContactUpdate) -> None:
        """Record ``update.event`` for the contact's automations (no-op when None)."""
