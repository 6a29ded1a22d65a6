"""What each side-effect job carries, typed; and the job that carries it.

RQ stores a job's argument in Redis with the job (for days, for a pending reminder), so on
the wire it stays the plain JSON-able dict it always was: ``to_dict`` writes exactly the
shape earlier versions wrote, ``from_dict`` reads it back (and the jobs queued or scheduled
by an earlier version), ignoring keys it does not know. The functions are named by their
dotted path, which RQ stores with each job: they must stay importable under these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

SEND_SMS_FUNC = "worker.jobs.send_sms"
SEND_REMINDER_FUNC = "worker.jobs.send_reminder"
SYNC_CRM_FUNC = "worker.jobs.sync_crm"


class Payload:
    """A job's argument: ``attempt`` counts the retries of a transient failure (absent,
    meaning 0, until the first)."""

    func: ClassVar[str]
    optional: ClassVar[frozenset[str]] = frozenset({"attempt"})
    """Keys an older job may lack; any other missing key fails the job (a KeyError)."""
    attempt: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        values = {item.name: data[item.name] for item in fields(cls)
                  if item.name in data or item.name not in cls.optional}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = {item.name: _plain(getattr(self, item.name)) for item in fields(self)}
        if not data["attempt"]:
            del data["attempt"]
        return data


@dataclass(frozen=True)
class SmsPayload(Payload):
    """``send_sms``: a message decided when its delivery was applied (a confirmation, a
    notice), rendered then."""

    func: ClassVar[str] = SEND_SMS_FUNC
    optional: ClassVar[frozenset[str]] = frozenset({"attempt", "template", "invitee", "due", "moved", "waits"})
    key: str
    kind: str
    to: str
    params: dict[str, str]
    template: str | None = None
    invitee: str | None = None
    attempt: int = 0
    due: int | None = None
    """When it goes (unix seconds), for a notice that waits out quiet hours in rq-scheduler."""
    moved: str | None = None
    """Why it does not go at once (``quiet_hours``); absent for a notice sent at once."""
    waits: int | None = None
    """How many times it was put off for a delivery of its booking (worker/sending.py)."""

    def to_dict(self) -> dict[str, Any]:
        return _without_unset(super().to_dict(), ("due", "moved", "waits"))


@dataclass(frozen=True)
class ReminderPayload(Payload):
    """``send_reminder``: a reminder (``offset`` seconds before the start) or follow-up
    (``offset`` None), rendered when it fires. Small on purpose, since every pending one
    lives in Redis until due: the booking by digest, times as unix seconds."""

    func: ClassVar[str] = SEND_REMINDER_FUNC
    optional: ClassVar[frozenset[str]] = frozenset({"attempt", "message", "moved", "wanted"})
    booking: str
    kind: str
    offset: int | None
    start: int
    due: int
    """When it is planned to go (unix seconds): after a move, the moved time."""
    message: str | None = None
    """Its ledger id (shared/ledger.py), so a skip is recorded even when the booking record
    is gone; absent in reminders scheduled before the ledger."""
    attempt: int = 0
    moved: str | None = None
    """Why ``due`` is not the offset's time (``quiet_hours``); absent when it is."""
    wanted: int | None = None
    """The offset's time, before the move."""

    def to_dict(self) -> dict[str, Any]:
        # An earlier version's job (no ledger id, never moved) reads back as it was.
        return _without_unset(super().to_dict(), ("message", "moved", "wanted"))


@dataclass(frozen=True)
class CrmPayload(Payload):
    """``sync_crm``: a contact's change (``kind`` contact, with its ``invitee``) or a lead
    (``kind`` lead, with its routing-form ``submission``)."""

    func: ClassVar[str] = SYNC_CRM_FUNC
    optional: ClassVar[frozenset[str]] = frozenset({"attempt", "invitee", "submission"})
    key: str
    kind: str
    contact: dict[str, Any]
    event: str | None
    invitee: str | None = None
    submission: str | None = None
    attempt: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        for name in ("invitee", "submission"):  # each kind carries its own, as it always did
            if data[name] is None:
                del data[name]
        return data


@dataclass(frozen=True)
class JobSpec:
    """One side-effect job: enqueued on ``queue`` when the delivery is committed, or, with
    ``at`` (aware UTC), held by rq-scheduler until then."""

    payload: SmsPayload | ReminderPayload | CrmPayload
    job_id: str
    queue: str
    at: datetime | None = field(default=None)
    planned: dict[str, Any] | None = field(default=None, compare=False)
    """For an SMS, what the ledger records as planned: its send-once ``key``, booking,
    kind, offset, to, template, due (worker/messages.py ``ledger_entry``)."""

    @property
    def func(self) -> str:
        return self.payload.func

    @property
    def data(self) -> dict[str, Any]:
        return self.payload.to_dict()


@dataclass(frozen=True)
class Skipped:
    what: str
    """``sms:<kind>[:...]`` or ``crm:<status>``: the counter's channel and kind."""
    reason: str
    phone: str | None = field(default=None, compare=False)
    """The number refused, for the log (masked there), when a number was the reason."""
    messages: tuple[dict[str, Any], ...] = field(default=(), compare=False)
    """The SMS this skip concerns, for the ledger: each its send-once ``key`` and what the
    ledger records of it (kind, offset, to, template, booking)."""


def _without_unset(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Keys added since, written only when set: a job stays as small, and as readable by an
    older worker, as before."""
    for name in names:
        if data.get(name) is None:
            data.pop(name, None)
    return data


def _plain(value: Any) -> Any:
    """What RQ pickles stays plain data: an enum member is stored as its string."""
    if isinstance(value, StrEnum):
        return value.value
    return value
