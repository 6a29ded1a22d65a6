"""``/admin``'s story of every message: a page per booking (its record, its deliveries and
each message's timeline from the ledger, shared/ledger.py), the messages list filtered by
state and kind, and the search that finds a booking by a delivery id, a message id, an
invitee URI or an e-mail address.

The pages are behind the admin's token or session, like /admin. They show what the
ledger and the booking record hold, masked: phone numbers always; the invitee's e-mail
address masked too (the operator who searched it knows it already). Unknown ids are 404:
JSON unless the client asked for HTML (a browser), as every refusal of the relay.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from flask import Blueprint, redirect, render_template_string, request
from rq.job import Job

from shared import defaults, keys, ledger
from shared.booking import BookingRecord, BookingStore
from shared.durations import in_words
from shared.operations import job_argument
from shared.scrub import mask_email, mask_name, mask_phone
from shared.vocabulary import LedgerEvent, SmsKind
from web import admin, auth, intake
from web.admin_pages import BOOKING, CHOICES, MESSAGES, NOT_FOUND
from web.replies_panel import panel as replies_panel
from web.responses import error_response, no_store, relay

blueprint = Blueprint("admin_messages", __name__)
blueprint.after_request(no_store)

DELIVERY_ID = re.compile(r"[0-9a-f]{32}")
"""web/intake.py's delivery ids: 32 hex digits."""
BOOKING_DIGEST = re.compile(r"[0-9a-f]{40}")
"""shared/keys.py's digest of an invitee URI: 40 hex digits."""
HEX_ID = re.compile(r"[0-9a-f]{8,64}")
WHOLE_NUMBER = re.compile(r"[0-9]{1,6}")
"""ASCII digits only: str.isdigit() takes "²", which int() refuses."""
LISTED_STATES = (LedgerEvent.FAILED, LedgerEvent.SKIPPED, LedgerEvent.DELIVERED, LedgerEvent.SENT)
"""The states the messages list offers as links; the others may be asked for by URL."""


class NotFound(LookupError):
    """Nothing answers to what was asked; its text says what was looked for."""


def refusal():
    """None for the admin; else the sign-in page (401, 429 while throttled)."""
    access = auth.check()
    return None if access.admin else admin.refusal_page(access)


def wants_html() -> bool:
    """A browser names text/html; scripts (curl's */*, a bearer token) get JSON."""
    return any(value == "text/html" for value, _ in request.accept_mimetypes)


def not_found(message: str):
    if wants_html():
        return render_template_string(NOT_FOUND, message=message), 404
    return error_response(404, "not_found", message)


def bad_request(code: str, message: str):
    return error_response(400, code, message)


def booking_url(invitee_uri: str) -> str:
    return f"/admin/bookings/{keys.digest(invitee_uri)}"


def delivery_booking(conn, delivery_id: str) -> str:
    """The booking digest of a delivery: from the recent deliveries list, else from its
    RQ job while that is kept (the envelope is its argument)."""
    for delivery in intake.recent(conn, intake.RECENT_SIZE):
        if delivery["id"] == delivery_id and delivery.get("booking"):
            return delivery["booking"]
    job = Job.fetch_many([keys.event_job(delivery_id)], connection=conn)[0]
    envelope = job_argument(job)
    if str(envelope.get("event", "")).startswith("invitee") and isinstance(envelope.get("payload"), dict):
        return keys.digest(envelope["payload"]["uri"])
    raise NotFound(f"no booking for delivery {delivery_id} (the recent deliveries and their jobs were searched)")


def resolve(conn, query: str) -> list[str]:
    """The booking digests ``query`` names: a delivery id, a booking digest, a message id
    of the ledger, an invitee URI or an e-mail address. Raises NotFound or ValueError."""
    text = query.strip()
    if "@" in text and not text.startswith("http"):
        uris = BookingStore(conn).for_email(text, datetime.now(timezone.utc))
        if not uris:
            raise NotFound(f"no booking with the e-mail address {mask_email(text)}")
        return [keys.digest(uri) for uri in uris]
    if text.startswith(("https://", "http://")):
        if BookingStore(conn).load(text) is None:
            raise NotFound("no booking record for that invitee URI")
        return [keys.digest(text)]
    lowered = text.lower()
    if DELIVERY_ID.fullmatch(lowered):
        return [delivery_booking(conn, lowered)]
    if BOOKING_DIGEST.fullmatch(lowered):
        return [lowered]
    if HEX_ID.fullmatch(lowered):
        message = ledger.load(conn, lowered)
        if message is None or not message.booking:
            raise NotFound(f"no message {lowered} in the ledger")
        return [keys.digest(message.booking)]
    raise ValueError("search for a delivery id, a message id, an invitee URI or an e-mail address")


@blueprint.post("/admin/search")
def search():
    refused = refusal()
    if refused:
        return refused
    query = request.form.get("q", "")
    if not query.strip() or len(query) > defaults.ADMIN_SEARCH_MAX_LENGTH:
        return bad_request("invalid_search", f"q: enter a delivery id, a message id, an invitee URI or an "
                                             f"e-mail address (at most {defaults.ADMIN_SEARCH_MAX_LENGTH} characters)")
    conn = relay()["redis"]
    try:
        digests = resolve(conn, query)
    except ValueError as error:
        return bad_request("invalid_search", f"q: {error}")
    except NotFound as error:
        return not_found(str(error))
    if len(digests) == 1:
        return redirect(f"/admin/bookings/{digests[0]}", code=303)
    store = BookingStore(conn)
    records = [(digest, store.load_by_digest(digest)) for digest in digests]
    return render_template_string(CHOICES, records=[(d, r) for d, r in records if r],
                                  when=utc, mask_email=mask_email)


@blueprint.get("/admin/bookings/<ident>")
def booking(ident: str):
    refused = refusal()
    if refused:
        return refused
    conn = relay()["redis"]
    ident = ident.lower()
    if DELIVERY_ID.fullmatch(ident):
        try:
            return redirect(f"/admin/bookings/{delivery_booking(conn, ident)}", code=303)
        except NotFound as error:
            return not_found(str(error))
    record = BookingStore(conn).load_by_digest(ident) if BOOKING_DIGEST.fullmatch(ident) else None
    if record is None:
        return not_found(f"no booking {ident} (a booking page is named by a booking digest or a delivery id; "
                         f"records expire {defaults.BOOKING_RECORD_TTL // 86400} days after the meeting)")
    deliveries = admin.with_status(conn, [d for d in intake.recent(conn, intake.RECENT_SIZE)
                                          if d.get("booking") == ident])
    messages = ledger.for_booking(conn, record.invitee_uri)  # in the order they were (or are) due
    return render_template_string(BOOKING, record=summary(record), deliveries=deliveries,
                                  messages=messages, when=utc, offset=offset_words, detail=detail_text,
                                  booking_url=booking_url)


@blueprint.get("/admin/messages")
def messages():
    refused = refusal()
    if refused:
        return refused
    state = request.args.get("state") or None
    kind = request.args.get("kind") or None
    limit = request.args.get("limit") or str(defaults.ADMIN_MESSAGES_SHOWN)
    if state is not None and state not in set(LedgerEvent):
        return bad_request("invalid_state", f"state: one of {', '.join(LedgerEvent)}, not {state[:40]!r}")
    if kind is not None and kind not in set(SmsKind):
        return bad_request("invalid_kind", f"kind: one of {', '.join(SmsKind)}, not {kind[:40]!r}")
    if not WHOLE_NUMBER.fullmatch(limit) or not 1 <= int(limit) <= defaults.ADMIN_MESSAGES_MAX:
        return bad_request("invalid_limit", f"limit: a whole number from 1 to {defaults.ADMIN_MESSAGES_MAX}")
    conn = relay()["redis"]
    found = ledger.recent(conn, state=state, kind=kind, limit=int(limit))  # newest activity first
    return render_template_string(MESSAGES, messages=found, state=state, kind=kind,
                                  states=LISTED_STATES, kinds=list(SmsKind), limit=int(limit), when=utc,
                                  offset=offset_words, last_seen=last_seen, booking_url=booking_url,
                                  detail=detail_text, replies=replies_panel(conn),
                                  orphans=ledger.orphans(conn, defaults.ADMIN_ORPHANS_SHOWN),
                                  orphans_shown=defaults.ADMIN_ORPHANS_SHOWN)


def summary(record: BookingRecord) -> dict:
    """What the booking page shows of a record: masked, and nothing that acts for anyone
    (the join URL stays out)."""
    return {"invitee_uri": record.invitee_uri, "status": record.status, "start": record.start, "end": record.end,
            "event_type": record.event_type_name, "timezone": record.timezone, "phone": mask_phone(record.phone),
            "phone_issue": record.phone_issue, "email": mask_email(record.email), "name": mask_name(record.name),
            "reconfirmed_at": getattr(record, "reconfirmed_at", None), "last_event": record.last_event,
            "last_event_at": record.last_event_at, "old_invitee": record.old_invitee,
            "new_invitee": record.new_invitee}


def last_seen(message: ledger.Message) -> float:
    return max([event.at for event in message.events] or [message.due or 0.0])


def utc(value: float | datetime | None) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(float(value), timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def offset_words(message: ledger.Message) -> str:
    if message.offset:
        return f"{in_words(timedelta(seconds=message.offset), 'en_US')} before"
    return "after the meeting" if message.kind == SmsKind.FOLLOWUP else ""


def detail_text(detail: dict) -> str:
    """An event's details, one ``key value`` pair after the other; times as dates."""
    parts = []
    for name, value in sorted(detail.items()):
        if value is None or value == "":
            continue
        parts.append(f"{name} {utc(value) if name in ('due', 'at') else value}")
    return " · ".join(parts)
