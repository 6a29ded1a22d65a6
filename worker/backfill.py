"""Bookings read from the Calendly API: backfill and reconciliation.

Backfill applies every active booking in a time range as an ``invitee.created`` with
source ``backfill``: the booking is recorded, its reminders still ahead are scheduled and
its contact synced, but no confirmation goes out (the booking was made in the past). It
goes through the same lifecycle and the same atomic commit as live webhooks, so running
it twice, or while webhooks arrive, sends nothing twice; a booking it recorded first still
gets its confirmation when its live webhook comes.

Reconciliation compares the coming hours with the records and repairs what a missed
webhook left behind: a booking never received is backfilled, a cancellation never
received is applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from shared import keys, stats
from shared.booking import BookingStore
from shared.calendly.client import PERMISSION, CalendlyClient, CalendlyError, Forbidden, calendly_time, uuid_of
from shared.calendly.payloads import BACKFILL, WEBHOOK, PayloadError, parse_delivery
from shared.errors import RelayError
from shared.scrub import safe_message
from shared.settings import Settings
from worker import lifecycle
from worker.apply import apply_delivery

log = logging.getLogger("relay.backfill")

RECONCILE_WINDOW = timedelta(hours=48)
MISSED_WEBHOOK_AGE = timedelta(hours=24)


class UnusableBookings(RelayError):
    """Calendly returned bookings the relay cannot use. The run applies every other booking
    first, then fails with this, so the failure shows (``relay failed list``, /admin) and a
    replay after the fix applies them."""


@dataclass
class Report:
    events: int = 0
    invitees: int = 0
    applied: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    """Bookings left for a later run (Calendly could not be asked about them just now)."""
    unusable: list[str] = field(default_factory=list)
    """Bookings Calendly returned that the relay cannot use: "<invitee uuid>: <field: why>"."""

    def line(self) -> str:
        return (f"{self.events} events, {self.invitees} invitees: {self.applied} applied, "
                f"{self.unchanged} already known, {len(self.skipped)} skipped, {len(self.unusable)} unusable")

    def raise_for_unusable(self) -> None:
        if self.unusable:
            raise UnusableBookings(f"{len(self.unusable)} booking(s) from Calendly could not be used: "
                                   + "; ".join(self.unusable[:10]))


def note_unusable(conn, report: Report, invitee_uri: str, error: PayloadError, dry_run: bool = False) -> None:
    if not dry_run:
        stats.count(conn, "deliveries_unusable", error.field)
    report.unusable.append(f"{uuid_of(invitee_uri)}: {error}")
    log.error("booking from Calendly unusable: %s", error, extra={"invitee": uuid_of(invitee_uri), "field": error.field})


def active_bookings(client: CalendlyClient, start: datetime, end: datetime,
                    scope: str = "organization") -> Iterator[tuple[dict, dict]]:
    """(scheduled event, invitee) for every active invitee of every active event whose
    start is in [start, end), oldest first: the user's own with ``scope="user"``; the
    organization's otherwise, when the token may list them (an admin's), else the user's."""
    org, user = client.scope_params()
    window = {"status": "active", "min_start_time": calendly_time(start), "max_start_time": calendly_time(end),
              "sort": "start_time:asc"}
    try:
        events = list(client.paginate("/scheduled_events", **(user if scope == "user" else org), **window))
    except Forbidden as error:
        if error.reason != PERMISSION or scope == "user":  # a missing scope is missing for the user's too
            raise
        events = list(client.paginate("/scheduled_events", **user, **window))
    for event in events:
        for invitee in client.paginate(f"/scheduled_events/{uuid_of(event['uri'])}/invitees", status="active"):
            yield event, invitee


def as_delivery(event_name: str, event: dict[str, Any], invitee: dict[str, Any], source: str):
    """An API invitee shaped as the webhook payload (which embeds the scheduled event)."""
    payload = {**invitee, "scheduled_event": event}
    created_at = invitee.get("created_at")
    if event_name == "invitee.canceled":
        created_at = (invitee.get("cancellation") or {}).get("created_at") or invitee.get("updated_at")
    return parse_delivery({"event": event_name, "created_at": created_at, "payload": payload}, source=source)


def backfill(conn, client: CalendlyClient, settings: Settings, start: datetime, end: datetime,
             dry_run: bool = False, progress: Callable[[str], None] = lambda line: None) -> Report:
    return apply_bookings(conn, settings, active_bookings(client, start, end, settings.calendly_scope), dry_run,
                          progress)


def apply_bookings(conn, settings: Settings, bookings, dry_run: bool = False,
                   progress: Callable[[str], None] = lambda line: None,
                   source_for: Callable[[dict], str] = lambda invitee: BACKFILL) -> Report:
    report = Report()
    seen_events = set()
    store = BookingStore(conn)
    for event, invitee in bookings:
        if event["uri"] not in seen_events:
            seen_events.add(event["uri"])
            report.events += 1
        report.invitees += 1
        try:
            delivery = as_delivery("invitee.created", event, invitee, source_for(invitee))
        except PayloadError as error:
            note_unusable(conn, report, str(invitee.get("uri", "?")), error, dry_run)
            continue
        now = datetime.now(timezone.utc)
        if dry_run:
            uris = lifecycle.affected_invitees(delivery)
            changed = bool(lifecycle.decide(delivery, {uri: store.load(uri) for uri in uris}, now).records)
        else:
            changed = bool(apply_delivery(conn, delivery, settings, now)["records"])
        if changed:
            report.applied += 1
        else:
            report.unchanged += 1
        if report.invitees % 25 == 0:
            progress(report.line())
    progress(report.line())
    return report


def reconcile(conn, client: CalendlyClient, settings: Settings, now: datetime | None = None) -> Report:
    """Repair the next 48 hours: bookings never received, cancellations never received.

    A missing booking made within the last day is one whose webhook was lost (Calendly
    retries for 24 hours): it is applied as the webhook would have been, confirmation
    included. An older one predates the relay and is backfilled without notices."""
    now = now or datetime.now(timezone.utc)
    end = now + RECONCILE_WINDOW
    bookings = list(active_bookings(client, now, end, settings.calendly_scope))

    store = BookingStore(conn)

    def source_for(invitee: dict) -> str:
        if store.load(invitee["uri"]) is not None:  # known (e.g. backfilled): no notices now
            return BACKFILL
        created = invitee.get("created_at")
        try:
            recent = created and datetime.fromisoformat(created.replace("Z", "+00:00")) > now - MISSED_WEBHOOK_AGE
        except ValueError:
            recent = False
        return WEBHOOK if recent else BACKFILL

    report = apply_bookings(conn, settings, bookings, source_for=source_for)
    conn.zremrangebyscore(keys.UPCOMING, "-inf", (now - RECONCILE_WINDOW).timestamp())  # long past
    active_in_calendly = {invitee["uri"] for _, invitee in bookings}
    for uri in BookingStore(conn).active_between(now, end):
        if uri in active_in_calendly:
            continue
        try:
            invitee = client.get(uri)["resource"]
            if invitee.get("status") != "canceled":
                continue
            event = client.get(invitee["event"])["resource"]
            delivery = as_delivery("invitee.canceled", event, invitee, WEBHOOK)
        except PayloadError as error:
            note_unusable(conn, report, uri, error)
            continue
        except (CalendlyError, KeyError, TypeError) as error:
            report.skipped.append(f"{uuid_of(uri)}: {safe_message(error)}")
            continue
        apply_delivery(conn, delivery, settings, now)
        report.applied += 1
        stats.count(conn, "reconciled", "cancellation")
        log.warning("reconciliation applied a cancellation that was never delivered",
                    extra={"invitee": uuid_of(uri)})
    stats.count(conn, "reconciled", "runs")
    return report
