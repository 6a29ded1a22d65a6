"""The message ledger: every SMS the relay decides about, of every kind, with its story.

One entry per message (its id: ``message_id`` of the send-once key), holding the booking,
kind, offset, masked recipient, template, and timed events: ``planned``, ``skipped``,
``sent``, ``delivered``, ``failed``, ``opted_out`` (shared.vocabulary.LedgerEvent). The
entry's ``state`` is the furthest along the message's life, not the last event to arrive
(the rules: shared/ledger_script.py), so EngageLab's callbacks may come early, twice or out
of order. Pure storage over Redis: the worker records its decisions, the callbacks worker
the provider's statuses, /admin and ``relay messages`` read.

No clear phone number or e-mail address is stored: the recipient is masked, every other
text value goes through shared/scrub.py. Entries expire ``LEDGER_RETENTION`` after their
last event (``configure``, at process start; default 90 days).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from shared import defaults, keys, stats
from shared.ledger_script import SCRIPT
from shared.scrub import mask_phone, scrub
from shared.vocabulary import LedgerEvent

ID_LENGTH = 16
"""Hex characters of a message id: 64 bits, unique among any relay's messages."""
ID_PATTERN = re.compile(rf"[0-9a-f]{{{ID_LENGTH}}}")
INVITEE_URI = re.compile(r"https://api\.calendly\.com/scheduled_events/([\w-]+)/invitees/([\w-]+)")
"""A booking (invitee URI) is stored as its two ids, ``<event> <invitee>`` (packed when they
are UUIDs, PACKED_BOOKING): 60 bytes less per entry (Lua's cjson escapes each slash), and
every entry names its booking."""
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PACKED_BOOKING = re.compile(r"[A-Za-z0-9_-]{43}")
"""A booking whose two ids are UUIDs (Calendly's), stored as their 32 bytes in URL-safe
base64: 43 characters instead of 73, which keeps a pending reminder's entry in a smaller
allocation and the ledger under 300 bytes an event on Redis 7 (tests/test_ledger.py)."""


def _dashed(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


IDENTIFIERS = frozenset({"booking", "kind", "template", "provider_id", "code", "status"})
"""Detail kept as given: ids and codes, which the scrubber could take for phone numbers (a
template id of seven digits). Every other text (a provider's reason) is scrubbed."""
STATES = tuple(LedgerEvent)

_retention = defaults.DEFAULT_LEDGER_RETENTION


def configure(retention_seconds: int) -> None:
    """LEDGER_RETENTION, set once at process start (worker, receiver, CLI)."""
    global _retention
    _retention = int(retention_seconds)


def retention() -> int:
    return _retention


@dataclass
class Event:
    at: float
    name: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Message:
    id: str
    booking: str | None
    kind: str | None
    offset: int | None
    to: str | None
    """Masked (``+1404*****34``)."""
    template: str | None
    provider_id: str | None
    state: str | None
    reason: str | None
    due: float | None
    events: list[Event] = field(default_factory=list)

    @property
    def last_at(self) -> float | None:
        return self.events[-1].at if self.events else None


@dataclass
class Orphan:
    """A status row that matched no message when it arrived (masked)."""

    at: float
    event: str
    provider_id: str | None
    relay_message: str | None
    detail: dict[str, Any]


def message_id(send_once_key: str) -> str:
    """The message's stable id: what EngageLab echoes back in ``custom_args.relay_message``."""
    return hashlib.sha256(send_once_key.encode()).hexdigest()[:ID_LENGTH]


def record(client, message_id: str, event: str, *, at: float | None = None, **detail: Any) -> None:
    """Append a timed event (one command; ``client`` may be a pipeline inside a MULTI).

    Detail keys: ``planned``: booking, kind, offset, to, template, due, moved; ``skipped``:
    reason (and, for a message skipped before it was planned, what ``planned`` says of it,
    without ``due``); ``sent``: provider_id (also indexed, as ``attach_provider_id``); ``failed``:
    code, reason (``delivered_failed`` is final, see shared/ledger_script.py)."""
    name = LedgerEvent(event)
    provider_id = str(detail["provider_id"]) if name == LedgerEvent.SENT and detail.get("provider_id") else ""
    _run(client, message_id, name, at, _stored_detail(detail), provider_id, booking=detail.get("booking"))


def record_planned(client, entry: dict[str, Any], due: float, at: float | None = None) -> None:
    """``planned`` for a message described as worker/messages.ledger_entry describes it (its
    ``key`` and its ``planned`` details), due at the entry's own ``due``, else at ``due``."""
    detail = {name: value for name, value in entry.items() if name != "key"}
    detail["due"] = detail.get("due") or int(due)
    record(client, message_id(entry["key"]), LedgerEvent.PLANNED, at=at, **detail)


def attach_provider_id(client, message_id: str, provider_id: str) -> None:
    """Index the provider's id → message id, and fold in status rows that came for it first."""
    _run(client, message_id, "", None, {}, str(provider_id))


def record_status(client, *, relay_message: str | None, provider_id: str | None, event: str,
                  at: float | None = None, **detail: Any) -> str | None:
    """A provider's status for a message: matched by ``relay_message`` (our id, echoed in
    custom_args) first, by the provider's id second. Unmatched, the row is kept as an orphan
    (counted, masked, listed by ``orphans``) and applied later if a send with that provider
    id is recorded after all (the callback raced the send). Returns the matched id or None."""
    name = LedgerEvent(event)
    at = _when(at)
    stored = _stored_detail(detail)
    matched = relay_message if relay_message and ID_PATTERN.fullmatch(relay_message) else None
    provider_id = str(provider_id) if provider_id else None
    if matched is None and provider_id:
        waiting = json.dumps([at, str(name), stored], separators=(",", ":"))
        found = client.eval(MATCH_OR_WAIT, 2, keys.ledger_provider(provider_id), keys.ledger_waiting(provider_id),
                            waiting, defaults.LEDGER_ORPHAN_WAIT, defaults.LEDGER_MAX_EVENTS)
        matched = found.decode() if found else None
    if matched is None:
        _keep_orphan(client, at, name, provider_id, relay_message, stored)
        return None
    _run(client, matched, name, at, stored, provider_id or "")
    return matched


MATCH_OR_WAIT = """
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
return false
"""
"""In one step, so a send recorded between a lookup and the wait cannot miss the row. At
most LEDGER_MAX_EVENTS rows wait per provider id (the newest), as many as an entry keeps:
rows repeated for an id that never matches must not grow a list for a day."""


def load(client, message_id: str) -> Message | None:
    raw = client.get(keys.ledger_message(message_id))
    return _message(message_id, raw) if raw else None


def for_booking(client, invitee_uri: str) -> list[Message]:
    """Every message of a booking, in the order they were (or are) due."""
    ids = sorted(member.decode() for member in client.hkeys(keys.ledger_booking(invitee_uri)))
    messages = _load_many(client, ids)
    return sorted(messages, key=lambda m: (m.due or (m.events[0].at if m.events else 0), m.kind or ""))


def recent(client, *, state: str | None = None, kind: str | None = None, since: float | None = None,
           booking: str | None = None, limit: int = 200) -> list[Message]:
    """Messages with an event since ``since`` (unix time), newest activity first, filtered
    by final state, kind and booking. Looks at most LEDGER_SCAN_LIMIT entries."""
    if booking is not None:
        found = [m for m in for_booking(client, booking) if _matches(m, state, kind, since)]
        return sorted(found, key=lambda m: m.last_at or 0, reverse=True)[:limit]
    found: list[Message] = []
    low = since if since is not None else "-inf"
    for start in range(0, defaults.LEDGER_SCAN_LIMIT, defaults.LEDGER_SCAN_BATCH):
        ids = [raw.decode() for raw in client.zrevrangebyscore(keys.LEDGER_RECENT, "+inf", low,
                                                               start=start, num=defaults.LEDGER_SCAN_BATCH)]
        found += [m for m in _load_many(client, ids) if _matches(m, state, kind, since)]
        if len(found) >= limit or len(ids) < defaults.LEDGER_SCAN_BATCH:
            break
    return found[:limit]


def orphans(client, limit: int = 200) -> list[Orphan]:
    """Status rows that matched no message when they arrived, newest first."""
    rows = client.lrange(keys.LEDGER_ORPHANS, 0, limit - 1)
    return [Orphan(*json.loads(row)) for row in rows]


def _matches(message: Message, state: str | None, kind: str | None, since: float | None) -> bool:
    return ((state is None or message.state == state) and (kind is None or message.kind == kind)
            and (since is None or (message.last_at or 0) >= since))


def _run(client, message_id: str, event: str, at: float | None, detail: dict[str, Any], provider_id: str,
         booking: str | None = None) -> Any:
    now = time.time()
    hour = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%d%H")
    return client.eval(
        SCRIPT, 7,
        keys.ledger_message(message_id), keys.LEDGER_RECENT, stats.PREFIX + "messages", stats.HOURLY_PREFIX + hour,
        keys.ledger_booking(booking) if booking else "",
        keys.ledger_provider(provider_id) if provider_id else "",
        keys.ledger_waiting(provider_id) if provider_id else "",
        message_id, str(event), _when(at), json.dumps(detail, separators=(",", ":")), _retention, now,
        provider_id, stats.HOURLY_TTL, defaults.LEDGER_MAX_EVENTS,
    )


def _when(at: float | None) -> float:
    return round(at if at is not None else time.time(), 3)


def _stored_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """What may be stored: no None (absent instead), the recipient masked, the booking
    shortened, free text scrubbed (a provider's reason may quote the number it refused)."""
    stored: dict[str, Any] = {}
    for name, value in detail.items():
        if value is None or value == "":
            continue
        if name == "to":
            value = value if "*" in str(value) else mask_phone(str(value))
        elif name == "booking":
            value = _short_booking(str(value))
        elif name in IDENTIFIERS:
            value = str(value) if not isinstance(value, (int, float)) else value
        elif isinstance(value, str):
            value = scrub(value)
        elif not isinstance(value, (int, float, bool)):
            value = scrub(str(value))
        stored[name] = value
    return stored


def _short_booking(uri: str) -> str:
    match = INVITEE_URI.fullmatch(uri)
    if not match:
        return uri
    event, invitee = match.groups()
    if UUID.fullmatch(event) and UUID.fullmatch(invitee):  # Calendly's ids: 32 bytes in 43 characters
        raw = bytes.fromhex(event.replace("-", "") + invitee.replace("-", ""))
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{event} {invitee}"


def _long_booking(stored: str | None) -> str | None:
    if not stored:
        return stored
    if " " in stored:
        event, invitee = stored.split(" ", 1)
    elif PACKED_BOOKING.fullmatch(stored):
        ids = base64.urlsafe_b64decode(stored + "=").hex()
        event, invitee = _dashed(ids[:32]), _dashed(ids[32:])
    else:
        return stored
    return f"https://api.calendly.com/scheduled_events/{event}/invitees/{invitee}"


def _keep_orphan(client, at: float, name: str, provider_id: str | None, relay_message: str | None,
                 detail: dict[str, Any]) -> None:
    row = json.dumps([at, str(name), provider_id, scrub(relay_message) if relay_message else None, detail],
                     separators=(",", ":"))
    with client.pipeline(transaction=False) as pipe:
        pipe.lpush(keys.LEDGER_ORPHANS, row)
        pipe.ltrim(keys.LEDGER_ORPHANS, 0, defaults.LEDGER_ORPHANS_KEPT - 1)
        pipe.expire(keys.LEDGER_ORPHANS, _retention)
        stats.count(pipe, "ledger_orphans", str(name))
        pipe.execute()


def _load_many(client, ids: list[str]) -> list[Message]:
    if not ids:
        return []
    raws = client.mget([keys.ledger_message(message_id) for message_id in ids])
    return [_message(message_id, raw) for message_id, raw in zip(ids, raws) if raw]


def _message(message_id: str, raw: bytes | str) -> Message:
    data = json.loads(raw)
    events = [Event(at, name, detail if isinstance(detail, dict) else {})
              for at, name, detail in data.get("e") or []]  # cjson writes an empty list as {}
    plans = [event for event in events if event.name == LedgerEvent.PLANNED and "due" in event.detail]
    return Message(
        id=message_id, booking=_long_booking(data.get("b")), kind=data.get("k"), offset=data.get("o"),
        to=data.get("t"), template=data.get("tp"), provider_id=data.get("p"), state=data.get("s"),
        reason=data.get("r"), due=plans[-1].detail["due"] if plans else None, events=events,
    )
