"""Every job function failing, expectedly and unexpectedly, in the Procfile's processes:
not one log line, and not one failed job's record in Redis, may hold the invitee's name,
e-mail address, phone numbers (international, and national formats of six countries),
answers to the booking form, cancel/reschedule links or meeting link.

The payloads carry those as canaries. The failures are real ones: a provider refusing with
a message that quotes what it was sent, records corrupted in Redis (Python's errors quote
the value they choke on), an answer from Calendly the relay cannot read, a delivery the
worker cannot use. RQ would log each failing job's arguments, which hold all of it.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from shared import keys
from shared import defaults
from shared.calendly import samples
from tests.fakes import FakeBrevo, FakeCalendly
from tests.faults import harness

NAME = "Zebulon Quixote-Marsh"
EMAIL = "zebulon.quixote@example.org"
MOBILE = "+1 (404) 555-9876"
NATIONAL = {"GB": "020 7946 0958", "DE": "0151 23456789", "FR": "06 12 34 56 78", "IN": "098765 43210",
            "AU": "0412 345 678", "US": "(678) 555-0142"}
ANSWER = "Our budget is nine hundred pelicans"
CANCEL_TOKEN = "c4nc3l-t0k3n-canary"
JOIN_URL = "https://zoom.us/j/8512345678?pwd=CanaryMeetingPwd"

CANARIES = [re.compile(re.escape(text), re.I) for text in
            ("Zebulon", "Quixote", "zebulon.quixote", "pelicans", CANCEL_TOKEN, "CanaryMeetingPwd", "8512345678")]
CANARIES += [re.compile(r"[\s\-./()]*".join(re.sub(r"\D", "", number)))
             for number in (MOBILE, *NATIONAL.values())]


@pytest.fixture
def calendly():
    with FakeCalendly() as fake:
        yield fake


def canary_booking(**options) -> dict:
    payload = samples.invitee_payload(
        name=NAME, email=EMAIL, phone=MOBILE,
        questions=[("Budget", ANSWER), *((f"Phone ({country})", number) for country, number in NATIONAL.items())],
        **options)
    payload["cancel_url"] = f"https://calendly.com/cancellations/{CANCEL_TOKEN}"
    payload["reschedule_url"] = f"https://calendly.com/reschedulings/{CANCEL_TOKEN}"
    payload["scheduled_event"]["location"] = {"type": "zoom", "join_url": JOIN_URL, "status": "pushed"}
    return payload


def corrupt(client, invitee_uri: str) -> None:
    """A booking record whose start is not a time (and quotes the name in the error)."""
    client.set(keys.booking(invitee_uri), json.dumps({"invitee_uri": invitee_uri, "status": "active",
                                                     "start": NAME, "phone": "+14045559876"}))


def failed_jobs(client) -> list[Job]:
    ids = [job_id for name in defaults.WORKER_QUEUES
           for job_id in FailedJobRegistry(name, connection=client).get_job_ids()]
    return [job for job in Job.fetch_many(ids, connection=client) if job is not None]


def test_failing_jobs_of_every_kind_leave_no_personal_data_in_any_log(redis_server, engagelab, brevo, calendly,
                                                                       make_stack):
    env = {**harness.engagelab_env(engagelab.url), "CRM_BACKEND": "brevo", "BREVO_API_KEY": FakeBrevo.API_KEY,
           "BREVO_API_URL": brevo.url, "CALENDLY_ACCESS_TOKEN": FakeCalendly.TOKEN, "CALENDLY_API_URL": calendly.url,
           "RELAY_WEBHOOK_URL": "https://relay.example.com/webhooks/calendly", "RECONCILE_INTERVAL": "off",
           "REMINDER_OFFSETS": "3s"}
    stack = make_stack(redis_server.url, **env)
    client = redis_server.client()
    stack.start("web")
    stack.start("scheduler")
    stack.start("worker")
    expected: dict[str, int] = {}

    # send_sms and send_reminder refused by EngageLab, sync_crm by Brevo, each quoting what
    # it was sent.
    engagelab.respond = _refuse_quoting(lambda body: (
        3003, f"Business validation failed for {body['template']['params'].get('name')} at {body['to'][0]} "
              f"({NATIONAL['US']})"))
    brevo.respond = _refuse_quoting(lambda body: (
        "invalid_parameter", f"Invalid email {body.get('email')} for {body.get('attributes', {}).get('FIRSTNAME')}"),
        only="/contacts", otherwise=brevo.respond)
    booking = canary_booking(start=datetime.now(timezone.utc) + timedelta(seconds=8))
    assert harness.post(stack, samples.envelope("invitee.created", booking)) == 200
    expected.update(send_sms=1, send_reminder=1, sync_crm=1)

    # process_event: a record corrupted in Redis; and a delivery the worker cannot use.
    broken = canary_booking()
    corrupt(client, broken["uri"])
    assert harness.post(stack, samples.envelope("invitee.created", broken)) == 200
    unusable = canary_booking()
    unusable["email"] = None
    assert harness.post(stack, samples.envelope("invitee.created", unusable)) == 200
    expected["process_event"] = 2

    # The side-effect jobs themselves, meeting corrupted records: planned as the worker plans
    # them (their arguments hold the number, the name, the address and the answers).
    stale = canary_booking()
    corrupt(client, stale["uri"])
    Queue(defaults.SMS_QUEUE, connection=client).enqueue(
        "worker.jobs.send_sms", {"key": f"sms|confirm|invitee|{stale['uri']}", "kind": "confirm", "to": "+14045559876",
                                 "params": {"name": NAME, "time": "soon"}, "template": "101",
                                 "invitee": stale["uri"]})
    Queue(defaults.REMINDERS_QUEUE, connection=client).enqueue(
        "worker.jobs.send_reminder", {"booking": keys.digest(stale["uri"]), "kind": "reminder", "offset": 3600,
                                      "start": int(time.time()) + 7200, "due": int(time.time())})
    client.set(f"{keys.PREFIX}crm:newest:{keys.digest(EMAIL)}", NAME)  # the contact's ordering stamp
    Queue(defaults.CRM_QUEUE, connection=client).enqueue(
        "worker.jobs.sync_crm", {"key": f"crm|booked|{stale['uri']}|created", "kind": "contact", "event": None,
                                 "invitee": stale["uri"],
                                 "contact": {"email": EMAIL, "name": NAME, "phone": "+14045559876", "status": "booked",
                                             "answers": [["Budget", ANSWER]], "lists": [], "join_url": JOIN_URL,
                                             "changed_at": datetime.now(timezone.utc).isoformat()}})
    expected["send_sms"] += 1
    expected["send_reminder"] += 1
    expected["sync_crm"] += 1

    # The maintenance jobs: Calendly answering what the relay cannot read, and a booking in
    # reconciliation that the relay cannot use (after applying the one it can).
    calendly.answer("/users/me", 200, {"resource": f"{NAME} {EMAIL} {MOBILE}"})
    Queue(defaults.MAINTENANCE_QUEUE, connection=client).enqueue("worker.jobs.check_webhooks")
    expected["check_webhooks"] = 1
    harness.wait_for(lambda: _count(failed_jobs(client), "check_webhooks") == 1, timeout=30,
                     what="the subscription check to fail")
    readable = canary_booking(start=datetime.now(timezone.utc) + timedelta(hours=3))
    readable["email"] = "reader@example.com"
    calendly.add_booking(readable)
    odd = calendly.add_booking(canary_booking(start=datetime.now(timezone.utc) + timedelta(hours=4)))
    odd["timezone"] = "Z" * 10_001
    Queue(defaults.MAINTENANCE_QUEUE, connection=client).enqueue("worker.jobs.reconcile_bookings")
    expected["reconcile_bookings"] = 1

    def all_failed() -> bool:
        jobs = failed_jobs(client)
        return all(_count(jobs, func) >= count for func, count in expected.items())

    try:
        harness.wait_for(all_failed, timeout=60, what=f"the failures {expected}")
    except AssertionError:
        found = {func: _count(failed_jobs(client), func) for func in expected}
        raise AssertionError(f"failed jobs {found}, expected {expected}; log tail:\n{stack.logs()[-6000:]}") from None
    time.sleep(1)  # the last lines reach the log files
    stack.stop()

    jobs = failed_jobs(client)
    stored = "\n".join(f"{job.latest_result().exc_string}\n{json.dumps(job.meta.get('failure'))}" for job in jobs)
    text = stack.logs()
    for canary in CANARIES:
        assert not canary.search(text), f"the logs hold {canary.pattern}: " + _around(text, canary)
        assert not canary.search(stored), f"a failed job's record holds {canary.pattern}: " + _around(stored, canary)
    # Each failure still says where and why, for the operator.
    reasons = "\n".join(f"{job.func_name} {job.latest_result().exc_string.strip().splitlines()[-1]}" for job in jobs)
    for func, reason in (("send_sms", "PermanentError: engagelab HTTP 400 code 3003: Business validation failed"),
                         ("send_reminder", "code 3003"), ("sync_crm", "code invalid_parameter: Invalid email"),
                         ("sync_crm", "ValueError: could not convert string to float: b'…'"),
                         ("process_event", "UnusableDelivery: payload.email"),
                         ("process_event", "ValueError: Invalid isoformat string: '…'"),
                         ("check_webhooks", "TypeError"), ("reconcile_bookings", "UnusableBookings")):
        assert re.search(rf"worker\.jobs\.{func} .*{re.escape(reason)}", reasons), (func, reason, reasons)
    harness.record("failing jobs: every job function", sum(expected.values()), 0, 0, 0,
                   note=f"{len(jobs)} jobs failed; {len(CANARIES)} canaries absent from every log line "
                        "and failed-job record")


def _refuse_quoting(message, only: str | None = None, otherwise=None):
    """A provider answering 400 with a message that quotes the request, as some do."""
    def respond(method, path, body, headers, query):
        if otherwise is not None and (path != only or method != "POST"):
            return otherwise(method, path, body, headers, query)
        code, text = message(body)
        return 400, {"code": code, "message": text}
    return respond


def _count(jobs, func: str) -> int:
    return sum(1 for job in jobs if job.func_name == f"worker.jobs.{func}")


def _around(text: str, pattern: re.Pattern) -> str:
    found = pattern.search(text)
    return text[max(0, found.start() - 200):found.end() + 100] if found else ""
