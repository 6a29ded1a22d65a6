"""Realistic Calendly deliveries, for ``relay simulate`` and for tests.

The shape is that of Calendly's v2 webhook payloads (the documented sample payload and
the real captures listed in tests/fixtures/calendly/README.md): compact JSON, keys in the
order Calendly sends them, nullable fields present as null.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.calendly.client import calendly_time

API = "https://api.calendly.com"


def new_uuid() -> str:
    return str(uuid.uuid4())


def invitee_payload(
    *,
    name: str = "Jane Doe",
    email: str = "jane.doe@example.com",
    phone: str | None = "+1 404-555-1234",
    start: datetime | None = None,
    duration: timedelta = timedelta(minutes=30),
    tz: str | None = "America/New_York",
    event_uuid: str | None = None,
    invitee_uuid: str | None = None,
    event_type_uuid: str = "a1b2c3d4-0000-4000-8000-00000000e7e1",
    event_type_name: str = "30 Minute Meeting",
    questions: list[tuple[str, str]] | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    now = created_at or datetime.now(timezone.utc)
    start = start or now + timedelta(days=2)
    event_uuid = event_uuid or new_uuid()
    invitee_uuid = invitee_uuid or new_uuid()
    event_uri = f"{API}/scheduled_events/{event_uuid}"
    questions = questions if questions is not None else [("Company", "Acme Inc."), ("Role", "CTO")]
    first, _, last = name.partition(" ")
    return {
        "cancel_url": f"https://calendly.com/cancellations/{invitee_uuid}",
        "created_at": calendly_time(now),
        "email": email,
        "event": event_uri,
        "first_name": None,
        "invitee_scheduled_by": None,
        "last_name": None,
        "name": name,
        "new_invitee": None,
        "no_show": None,
        "old_invitee": None,
        "payment": None,
        "questions_and_answers": [
            {"answer": answer, "position": index, "question": question}
            for index, (question, answer) in enumerate(questions)
        ],
        "reconfirmation": None,
        "reschedule_url": f"https://calendly.com/reschedulings/{invitee_uuid}",
        "rescheduled": False,
        "routing_form_submission": None,
        "scheduled_event": {
            "created_at": calendly_time(now),
            "end_time": calendly_time(start + duration),
            "event_guests": [],
            "event_memberships": [
                {
                    "user": f"{API}/users/0f1e2d3c-0000-4000-8000-0000000000a1",
                    "user_email": "host@example.com",
                    "user_name": "Sam Host",
                }
            ],
            "event_type": f"{API}/event_types/{event_type_uuid}",
            "invitees_counter": {"active": 1, "limit": 1, "total": 1},
            "location": {
                "join_url": f"https://calendly.com/events/{event_uuid}/google_meet",
                "status": "processing",
                "type": "google_conference",
            },
            "meeting_notes_html": None,
            "meeting_notes_plain": None,
            "name": event_type_name,
            "start_time": calendly_time(start),
            "status": "active",
            "updated_at": calendly_time(now),
            "uri": event_uri,
        },
        "scheduling_method": None,
        "status": "active",
        "text_reminder_number": phone,
        "timezone": tz,
        "tracking": {
            "utm_campaign": None,
            "utm_source": None,
            "utm_medium": None,
            "utm_content": None,
            "utm_term": None,
            "salesforce_uuid": None,
        },
        "updated_at": calendly_time(now),
        "uri": f"{event_uri}/invitees/{invitee_uuid}",
    }


def canceled(payload: dict[str, Any], *, at: datetime | None = None, reason: str | None = None,
             rescheduled_to: str | None = None) -> dict[str, Any]:
    """The same invitee, cancelled (for a reschedule: ``rescheduled_to`` = new invitee URI)."""
    at = at or datetime.now(timezone.utc)
    cancellation = {
        "canceled_by": payload["name"],
        "canceler_type": "invitee",
        "created_at": calendly_time(at),
        "reason": reason,
    }
    result = json.loads(json.dumps(payload))
    result.update(
        cancellation=cancellation,
        status="canceled",
        updated_at=calendly_time(at),
        rescheduled=rescheduled_to is not None,
        new_invitee=rescheduled_to,
    )
    result["scheduled_event"].update(status="canceled", cancellation=cancellation, updated_at=calendly_time(at))
    return result


def rescheduled(old: dict[str, Any], *, start: datetime, at: datetime | None = None) -> dict[str, Any]:
    """The created half of a reschedule: a new invitee on a new event, linked to ``old``."""
    new = invitee_payload(
        name=old["name"],
        email=old["email"],
        phone=old["text_reminder_number"],
        start=start,
        tz=old["timezone"],
        event_type_name=old["scheduled_event"]["name"],
        event_type_uuid=old["scheduled_event"]["event_type"].rsplit("/", 1)[-1],
        questions=[(qa["question"], qa["answer"]) for qa in old["questions_and_answers"]],
        created_at=at,
    )
    new["old_invitee"] = old["uri"]
    return new


def no_show_marked(payload: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
    at = at or datetime.now(timezone.utc)
    result = json.loads(json.dumps(payload))
    result["no_show"] = {"uri": f"{API}/invitee_no_shows/{new_uuid()}", "created_at": calendly_time(at)}
    return result


def routing_form_payload(*, email: str = "lead@example.com", name: str = "Lee Lead") -> dict[str, Any]:
    submission = new_uuid()
    return {
        "created_at": calendly_time(datetime.now(timezone.utc)),
        "questions_and_answers": [
            {"answer": name, "question": "Name", "question_uuid": new_uuid()},
            {"answer": email, "question": "Email", "question_uuid": new_uuid()},
            {"answer": "Acme Inc.", "question": "Company", "question_uuid": new_uuid()},
        ],
        "result": {"type": "event_type", "value": f"{API}/event_types/{new_uuid()}"},
        "routing_form": f"{API}/routing_forms/{new_uuid()}",
        "submitter": None,
        "submitter_type": None,
        "tracking": {"utm_campaign": None, "utm_source": None, "utm_medium": None,
                     "utm_content": None, "utm_term": None, "salesforce_uuid": None},
        "updated_at": calendly_time(datetime.now(timezone.utc)),
        "uri": f"{API}/routing_form_submissions/{submission}",
    }


def envelope(event: str, payload: dict[str, Any], *, created_at: datetime | None = None) -> dict[str, Any]:
    """The envelope; its ``created_at`` has second precision, like Calendly's."""
    moment = (created_at or datetime.now(timezone.utc)).replace(microsecond=0)
    return {
        "created_at": calendly_time(moment),
        "created_by": f"{API}/users/0f1e2d3c-0000-4000-8000-0000000000a1",
        "event": event,
        "payload": payload,
    }


def body(data: dict[str, Any]) -> bytes:
    """Compact JSON, as Calendly sends it."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
