"""The interface every SMS backend implements (one module per provider)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from shared.settings import Settings
from worker.provider import Provider


@dataclass(frozen=True)
class OutboundSms:
    key: str
    """Idempotency key of this message; providers that accept one get it too."""
    kind: str
    to: str
    """E.164."""
    params: dict[str, str] = field(default_factory=dict)
    template_id: str | None = None
    """The approved EngageLab template; None on the console backend when unset."""


class SmsBackend(Provider, ABC):
    @classmethod
    def from_settings(cls, settings: Settings) -> "SmsBackend":
        """The backend the worker sends through, built once per process."""
        return cls()

    @abstractmethod
    def send(self, message: OutboundSms) -> str:
        """Send one message to one recipient; return the provider's message id."""

    def refused_as_opted_out(self, error: Exception) -> bool:
        """Whether the provider refused the message because the number unsubscribed or is
        blocked: it then goes on the opt-out list (worker/optout.py)."""
        return False
