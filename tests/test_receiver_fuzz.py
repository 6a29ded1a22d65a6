"""Property tests: whatever arrives, the receiver answers a deliberate 2xx/4xx (never a
5xx while Redis is up) and enqueues nothing it refuses; whatever payload reaches the
worker, the lifecycle skips it cleanly or applies it, and never crashes."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from rq import Queue

from shared import defaults
from shared.calendly import samples
from shared.calendly.payloads import PayloadError, parse_delivery
from shared.settings import Settings
from tests.helpers import SIGNING_KEY, WEBHOOK, signed_headers
from tests.strategies import ALL_PATHS, json_values, mutated, odd_values
from shared.calendly.signature import HEADER
from worker import lifecycle
from worker.apply import plan_jobs

FUZZ = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"), max_size=200)
EVENTS = sorted({"invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted",
                 "routing_form_submission.created", "event_type.created"})


def queue_length(conn):
    return Queue(defaults.EVENTS_QUEUE, connection=conn).count


@FUZZ
@given(body=st.binary(max_size=2000), header=st.one_of(st.none(), header_text),
       extra=st.dictionaries(st.sampled_from(["Content-Type", "X-Forwarded-For", "Content-Encoding"]), header_text))
def test_arbitrary_requests_are_refused_cleanly(client, conn, body, header, extra):
    before = queue_length(conn)
    headers = dict(extra)
    if header is not None:
        headers[HEADER] = header
    response = client.post(WEBHOOK, data=body, headers=headers)
    assert response.status_code in (400, 401, 413)
    assert response.get_json()["error"]
    assert queue_length(conn) == before


@FUZZ
@given(data=json_values, event=st.sampled_from(EVENTS), uri=st.one_of(st.text(max_size=30), json_values),
       shape=st.sampled_from(["raw", "envelope"]))
def test_signed_arbitrary_json_is_accepted_or_rejected_never_crashes(client, conn, data, event, uri, shape):
    if shape == "envelope":
        data = {"event": event, "created_at": "2026-01-01T00:00:00.000000Z", "payload": {"uri": uri, "x": data}}
    raw = json.dumps(data).encode()
    before = queue_length(conn)
    response = client.post(WEBHOOK, data=raw, headers=signed_headers(raw))
    assert response.status_code in (200, 400)
    status = response.get_json().get("status")
    expected_growth = 1 if status == "accepted" else 0
    assert queue_length(conn) == before + expected_growth


@FUZZ
@given(mutations=st.lists(st.tuples(st.sampled_from(ALL_PATHS), odd_values), min_size=1, max_size=4),
       event=st.sampled_from(EVENTS[:-1]))
def test_mutated_payloads_never_crash_the_lifecycle(mutations, event):
    data = mutated(event, mutations)
    try:
        delivery = parse_delivery(data)
    except PayloadError as error:
        assert str(error)
        return
    uris = lifecycle.affected_invitees(delivery)
    now = datetime.now(timezone.utc)
    decision = lifecycle.decide(delivery, {u: None for u in uris}, delivery.created_at or now)
    plan = plan_jobs(decision.actions, dict(decision.records), delivery, Settings(signing_key=SIGNING_KEY), now)
    for job in plan.jobs:
        json.dumps(job.data)  # job arguments stay plain JSON data
        if job.queue == defaults.SMS_QUEUE:
            assert job.data["to"].startswith("+") and job.data["to"][1:].isdigit()
    for specs in plan.scheduled.values():
        for spec in specs:
            json.dumps(spec.data)
            assert spec.at > now and spec.at.tzinfo is not None
    for skip in plan.skipped:
        assert skip.reason
