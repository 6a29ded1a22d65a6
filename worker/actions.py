"""What the lifecycle decides (worker/lifecycle.py) and applying a delivery carries out
(worker/apply.py): one action per side effect, and the decision that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.booking import BookingRecord
from shared.calendly.payloads import RoutingFormSubmission
from shared.vocabulary import ContactStatus, Recipient, SmsKind


@dataclass(frozen=True)
class SendSms:
    kind: SmsKind
    invitee_uri: str
    recipient: Recipient = Recipient.INVITEE


@dataclass(frozen=True)
class SyncContact:
    status: ContactStatus
    invitee_uri: str
    changed_at: datetime
    change_id: str
    """Names the change for the send-once key: "created" and "canceled" happen once per
    invitee; no-show marks can toggle, so theirs is the time of the change."""


@dataclass(frozen=True)
class SyncLead:
    submission: RoutingFormSubmission


@dataclass(frozen=True)
class ScheduleReminders:
    """Reminders before the start and the follow-up after the end (those still ahead)."""

    invitee_uri: str


@dataclass(frozen=True)
class CancelScheduled:
    """Remove the booking's pending reminder and follow-up jobs."""

    invitee_uri: str


Action = SendSms | SyncContact | SyncLead | ScheduleReminders | CancelScheduled


@dataclass(frozen=True)
class Decision:
    records: dict[str, BookingRecord] = field(default_factory=dict)
    """Records to write (only those that changed)."""
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()
    """Why something expected did not happen, for the log."""
