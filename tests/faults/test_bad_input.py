"""Bad input through the whole pipeline: real payload shapes mutated (missing, null and
wrong-typed fields, huge strings, odd Unicode, invalid phone numbers and time zones), run
through the worker's real jobs against a real Redis, sending to a fake EngageLab over HTTP.

Whatever arrives: no job fails with an unhandled exception (a delivery the worker cannot use
fails its own job visibly, as UnusableDelivery, and is counted), no SMS goes to a number
that is invalid or that the payload did not give, and every skip is logged with its reason.
"""

from __future__ import annotations

import logging
import re

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st
from hypothesis import event as hypothesis_event
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from shared import defaults
from shared import stats
from tests.fakes import FakeEngageLab
from tests.faults import harness
from tests.helpers import run_jobs
from tests.strategies import ALL_PATHS, mutated, odd_values

PIPELINE = hsettings(max_examples=120, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
EVENTS = ["invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted"]
PHONE_PATHS = [("payload", "text_reminder_number"), ("payload", "questions_and_answers", 0, "answer"),
               ("payload", "location", "location")]
phones = st.one_of(
    st.text(alphabet="+0123456789 -().x", max_size=24),
    st.sampled_from(["+1 000", "+0 000-000-0000", "+44 20 7946 0958", "555-1234", "+1 404-555-123456789",
                     "+999 123 456", "tel:+14045551234", "++14045551234", "+1 (404) 555-1234 ext. 9"]),
)
mutation = st.one_of(st.tuples(st.sampled_from(ALL_PATHS), odd_values), st.tuples(st.sampled_from(PHONE_PATHS), phones))
DIGITS = re.compile(r"\d")


@pytest.fixture
def engagelab(monkeypatch):
    with FakeEngageLab() as fake:
        for name, value in {**harness.engagelab_env(fake.url), **harness.TEMPLATES, "TEMPLATE_ID_HOST_NOTIFY": "106",
                            "CRM_BACKEND": "log", "HOST_PHONE": "+1 212-555-0100"}.items():
            monkeypatch.setenv(name, value)
        yield fake


@PIPELINE
@given(mutations=st.lists(mutation, min_size=1, max_size=4), event=st.sampled_from(EVENTS))
@example(mutations=[(("payload", "text_reminder_number"), ""),  # found by CI: an extension is not part of the number
                    (("payload", "questions_and_answers", 0, "answer"), "+1 (404) 555-1234 ext. 9")],
         event="invitee.created")
def test_mutated_payloads_through_the_worker(engagelab, conn, caplog, mutations, event):
    conn.flushdb()
    caplog.clear()
    engagelab.requests.clear()
    data = mutated(event, mutations)
    Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue(defaults.PROCESS_EVENT_FUNC, data, None,
                                                          job_timeout=defaults.JOB_TIMEOUT)
    with caplog.at_level(logging.INFO):
        run_jobs(conn)

    for name in defaults.WORKER_QUEUES:
        failed = FailedJobRegistry(name, connection=conn)
        reasons = [job.latest_result().exc_string.strip().splitlines()[-1]
                   for job in Job.fetch_many(failed.get_job_ids(), connection=conn)]
        unusable = [reason for reason in reasons if "UnusableDelivery: " in reason]
        assert reasons == unusable and (name == defaults.EVENTS_QUEUE or not reasons), reasons
        if unusable:
            hypothesis_event("unusable delivery")
            assert sum(stats.read(conn, "deliveries_unusable").values()) == len(unusable)
    given_numbers = _digit_runs(data)
    hypothesis_event(f"{len(engagelab.messages())} SMS sent")
    for message in engagelab.messages():
        number = phonenumbers.parse(message["to"])
        assert phonenumbers.is_valid_number(number), message["to"]
        # The number's own digits (without its country code) are written in the payload:
        # nothing is sent to a number the invitee did not give (HOST_PHONE aside).
        national = str(number.national_number)
        assert message["to"] == "+12125550100" or any(national in run for run in given_numbers), \
            (message["to"], given_numbers)
    for record in caplog.records:
        text = record.getMessage()
        if "skipped" in text or "not sent" in text:
            assert getattr(record, "reason", None) or getattr(record, "skipped", None) or ": " in text, text
        if text.startswith("delivery applied"):
            for skip in record.skipped:
                assert skip.rsplit(":", 1)[-1], skip  # "what:reason", the reason never empty


def _digit_runs(value) -> set[str]:
    """Digits of every string in the payload with at least 7 of them (phone-like)."""
    runs = set()
    if isinstance(value, str):
        digits = "".join(DIGITS.findall(value))
        if len(digits) >= 7:
            runs.add(digits)
    elif isinstance(value, dict):
        for item in value.values():
            runs |= _digit_runs(item)
    elif isinstance(value, list):
        for item in value:
            runs |= _digit_runs(item)
    return runs
