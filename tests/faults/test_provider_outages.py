"""Provider outages: EngageLab answering 503 for 30 seconds, Brevo rate-limiting with a
reset header. Every message and every contact arrives, exactly once."""

from __future__ import annotations

import subprocess
import time

from shared.calendly import samples
from tests.fakes import FakeBrevo
from tests.faults import harness

OUTAGE = 30.0


def test_engagelab_503_for_30_seconds_then_every_message_exactly_once(redis_server, engagelab, make_stack):
    stack = make_stack(redis_server.url, **harness.engagelab_env(engagelab.url))
    stack.start("web")
    stack.start("scheduler")  # retries are scheduled jobs
    stack.start("worker")
    count = 6
    engagelab.fail_for(OUTAGE, 503, {"code": 5001, "message": "service unavailable"})
    for i in range(count):
        assert harness.post(stack, samples.envelope("invitee.created", samples.invitee_payload(
            phone=harness.phone(i), email=f"e{i}@example.com"))) == 200

    expected = {harness.e164(i) for i in range(count)}
    harness.wait_for(lambda: expected <= {m["to"] for m in engagelab.messages()}, timeout=OUTAGE + 45,
                     what="every confirmation after the outage")
    time.sleep(2)
    sent = [m["to"] for m in engagelab.messages()]
    refused = len(engagelab.received("/v1/messages", status=503))
    harness.record("engagelab 503 for 30 s", refused, count, len(set(sent)), harness.duplicates(sent),
                   note=f"{refused} calls refused during the outage")
    assert refused >= count
    assert sorted(sent) == sorted(expected)


def test_brevo_429_with_a_reset_header_resumes_after_the_reset(redis_server, brevo, make_stack):
    crm = {"CRM_BACKEND": "brevo", "BREVO_API_KEY": FakeBrevo.API_KEY, "BREVO_API_URL": brevo.url}
    stack = make_stack(redis_server.url, **crm)
    subprocess.run([str(harness.BIN / "relay"), "crm", "setup"], env=stack.env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack.start("web")
    stack.start("scheduler")
    stack.start("worker")
    count = 5
    reset = 3
    limited_at = time.time()
    brevo.fail_for(reset + 1, 429, {"code": "too_many_requests", "message": "rate limited"},
                   headers={"x-sib-ratelimit-reset": str(reset)})
    emails = [f"b{i}@example.com" for i in range(count)]
    for i, email in enumerate(emails):
        assert harness.post(stack, samples.envelope("invitee.created", samples.invitee_payload(
            phone=harness.phone(i), email=email))) == 200

    harness.wait_for(lambda: set(emails) <= set(brevo.contacts) and _booked_events(brevo) >= count,
                     timeout=45, what="every contact and its event after the rate limit")
    time.sleep(2)
    limited = brevo.received(status=429)
    resumed = min(r["at"] for r in brevo.received("/contacts")
                  if r["path"] == "/contacts" and r["status"] in (200, 201, 204))
    events = [e["identifiers"]["email_id"] for e in brevo.events if e["event_name"] == "calendly_booked"]
    harness.record("brevo 429 with reset header", len(limited), count, len(set(events)), harness.duplicates(events),
                   note=f"first contact written {resumed - limited_at:.1f} s after the limit began (reset {reset} s)")
    assert limited, "the rate limit was never hit"
    assert all(brevo.status_label(email) == "booked" for email in emails)
    assert sorted(events) == sorted(emails)
    assert resumed - limited_at < reset + 1 + 10  # right after the reset, not after a long backoff


def _booked_events(brevo) -> int:
    return sum(1 for e in brevo.events if e["event_name"] == "calendly_booked")
