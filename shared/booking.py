"""The booking record: what the relay knows about one invitee, one JSON value in Redis.

A record exists per invitee URI. It is written only where the worker applies a delivery
(worker/apply.py: a webhook's, or a booking backfill or reconciliation read from Calendly),
inside a WATCH/MULTI transaction together with the jobs decided on, and read by the jobs
that run later, so a reminder can check whether its booking is still active.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from shared import keys
from shared import defaults
from shared.vocabulary import BookingStatus


@dataclass(frozen=True)
class BookingRecord:
    invitee_uri: str
    status: BookingStatus
    created_seen: bool = False
    """Whether ``invitee.created`` for this invitee has been applied. A record can exist
    without it: a cancellation, no-show or the other half of a reschedule came first."""
    notified: bool = False
    """Whether the booking's confirmation (or reschedule notice) was decided. A backfilled
    booking is recorded without it, so its live webhook, if one comes, still confirms."""
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    phone_issue: str | None = None
    timezone: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    scheduled_event_uri: str | None = None
    event_type_uri: str | None = None
    event_type_name: str | None = None
    join_url: str | None = None
    old_invitee: str | None = None
    new_invitee: str | None = None
    no_show_marked_at: datetime | None = None
    no_show_cleared_at: datetime | None = None
    last_event: str | None = None
    last_event_at: datetime | None = None
    reconfirmed_at: datetime | None = None
    """When the invitee confirmed the booking by replying a confirm word (SMS_CONFIRM_WORDS)."""
    reminder_jobs: tuple[str, ...] = ()
    """Ids of the reminder and follow-up jobs scheduled for this booking, so a
    cancellation removes exactly those, whatever the configuration says by then."""

    def evolve(self, **changes: Any) -> "BookingRecord":
        return replace(self, **changes)

    def to_json(self) -> str:
        # Field by field (every value is immutable): asdict copies each one deeply.
        values = ((item.name, getattr(self, item.name)) for item in fields(self))
        data = {k: _encode(v) for k, v in values if v not in (None, False, ())}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "BookingRecord":
        data = json.loads(text)
        known = {f.name: f for f in fields(cls)}
        values = {}
        for name, value in data.items():
            if name in known:
                values[name] = _decode(name, value)
        return cls(**values)

    def expires_at(self, now: datetime) -> datetime:
        anchor = self.end if self.end and self.end > now else now
        return anchor + timedelta(seconds=defaults.BOOKING_RECORD_TTL)


DATETIME_FIELDS = {"start", "end", "no_show_marked_at", "no_show_cleared_at", "last_event_at", "reconfirmed_at"}


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return value


def _decode(name: str, value: Any) -> Any:
    if name in DATETIME_FIELDS and value is not None:
        return datetime.fromisoformat(value).astimezone(timezone.utc)
    if name == "status":
        return BookingStatus(value)
    if isinstance(value, list):
        return tuple(value)
    return value


INDEX_PHONE = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
"""
"""A number's bookings by start; the index lives until a day after the latest of them has
started (PHONE_INDEX_MARGIN), never shortened by an earlier booking saved later. Both
indexes hold bookings by digest: a member of at most 64 bytes keeps a small sorted set in
Redis's compact encoding (about 100 bytes), where an invitee URI (110) made each index
a skiplist of 1 KB (bench/steady_state.py)."""


INDEX_EMAIL = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], last[2])
"""
"""An index entry (a sorted set's member, scored by when its record expires) is written
with its record and lapses with it; the set, with the last of its members. One script,
because the set's expiry is the latest of its members' (Redis 6.2 has no EXPIREAT GT),
and a pipeline in MULTI cannot read it first."""


class BookingStore:
    """Read and write booking records; ``client`` may be a Redis client or a pipeline."""

    def __init__(self, client):
        self.client = client

    def load(self, invitee_uri: str) -> BookingRecord | None:
        return self.load_by_digest(keys.digest(invitee_uri))

    def load_by_digest(self, booking_digest: str) -> BookingRecord | None:
        """Scheduled jobs carry the digest, not the URI, to stay small in Redis."""
        raw = self.client.get(keys.booking_by_digest(booking_digest))
        return BookingRecord.from_json(raw) if raw else None

    def save(self, record: BookingRecord, now: datetime, client=None) -> None:
        target = client if client is not None else self.client
        target.set(
            keys.booking(record.invitee_uri),
            record.to_json(),
            exat=int(record.expires_at(now).timestamp()),
        )
        # Active bookings by start time: what reconciliation compares with Calendly.
        if record.status == BookingStatus.ACTIVE and record.start is not None:
            target.zadd(keys.UPCOMING, {record.invitee_uri: record.start.timestamp()})
            if record.phone:
                target.eval(INDEX_PHONE, 1, keys.bookings_by_phone(record.phone), keys.digest(record.invitee_uri),
                            record.start.timestamp(), max(60, int(record.start.timestamp() - now.timestamp()) + defaults.PHONE_INDEX_MARGIN))
        else:
            target.zrem(keys.UPCOMING, record.invitee_uri)
            if record.phone:
                target.zrem(keys.bookings_by_phone(record.phone), keys.digest(record.invitee_uri))
        if record.email:
            expires = int(record.expires_at(now).timestamp())
            target.eval(INDEX_EMAIL, 1, keys.bookings_by_email(record.email), expires, keys.digest(record.invitee_uri),
                        int(now.timestamp()))

    def for_email(self, email: str, now: datetime) -> list[str]:
        """Invitee URIs of the records booked with ``email`` (any case), newest expiry first."""
        found = self.client.zrevrangebyscore(keys.bookings_by_email(email), "+inf", f"({int(now.timestamp())}")
        records = (self.load_by_digest(member.decode()) for member in found)
        return [record.invitee_uri for record in records if record is not None]

    def upcoming_for_phone(self, phone_e164: str, now: datetime) -> list[BookingRecord]:
        """Active bookings with this invitee number starting after ``now``, nearest first."""
        return [record for record in self.with_phone(phone_e164, since=now) if record.start > now]

    def with_phone(self, phone_e164: str, since: datetime | None = None) -> list[BookingRecord]:
        """Active bookings with this invitee number, by start (those that started within
        the index's margin too: their follow-ups may be pending). The index is checked
        against the records: a number changed since, or a booking no longer active, is
        dropped from it here."""
        key = keys.bookings_by_phone(phone_e164)
        low = f"({since.timestamp()}" if since else "-inf"
        found, stale = [], []
        for member in self.client.zrangebyscore(key, low, "+inf"):
            record = self.load_by_digest(member.decode())
            if record and record.phone == phone_e164 and record.status == BookingStatus.ACTIVE and record.start:
                found.append(record)
            else:
                stale.append(member)
        if stale:
            self.client.zrem(key, *stale)
        return sorted(found, key=lambda record: record.start)

    def active_between(self, start: datetime, end: datetime) -> list[str]:
        """Invitee URIs of active bookings starting in [start, end]."""
        return [uri.decode() for uri in self.client.zrangebyscore(keys.UPCOMING, start.timestamp(), end.timestamp())]

    def active_from(self, start: datetime, batch_size: int) -> Iterator[list[str]]:
        """Invitee URIs of active bookings starting at or after ``start``, in batches, in
        start order. Paged by score, not by position, so bookings cancelled meanwhile (gone
        from the set) make no others be skipped."""
        low: float | str = start.timestamp()
        seen_at_low: set[bytes] = set()
        while True:
            rows = self.client.zrangebyscore(keys.UPCOMING, low, "+inf", start=0, num=batch_size + len(seen_at_low),
                                             withscores=True)
            batch = [(uri, score) for uri, score in rows if not (score == low and uri in seen_at_low)]
            if batch:
                yield [uri.decode() for uri, _ in batch]
            if len(rows) < batch_size + len(seen_at_low) or not batch:
                return
            last = batch[-1][1]
            seen_at_low = (seen_at_low if last == low else set()) | {uri for uri, score in batch if score == last}
            low = last
