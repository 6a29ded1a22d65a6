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
    """email, name, phone (E.164), status, event type, scheduled_at, answers, ..."""
    event: str | None
    """The automation event to record (``calendly_booked`` ...), or None."""


class CrmBackend(ABC):
    name: str

    @abstractmethod
    def apply(self, update: ContactUpdate) -> None:
        """Upsert the contact and record the event, if any."""
