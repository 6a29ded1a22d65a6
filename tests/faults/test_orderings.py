"""Redelivered, reordered and parallel deliveries end as a clean run does.

Each story is told twice through the real web process and three workers: once cleanly
(each delivery once, in the order the events happened) for one person, once perturbed
for another. Both are posted before the workers start, so the perturbation is the only
difference. The final booking records, the SMS each person got and their Brevo contact
must be the same.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from rq import Queue
from rq.registry import StartedJobRegistry
from rq_scheduler import Scheduler

from shared import defaults
from shared.booking import BookingStore
from shared.calendly import samples
from tests.fakes import FakeBrevo
from tests.faults import harness

T0 = datetime.now(timezone.utc).replace(microsecond=0)
START = T0 + timedelta(days=3)


def person(i: int, tag: str) -> dict:
    return samples.invitee_payload(name=f"Pat {tag}{i}", email=f"{tag}{i}@example.com", phone=harness.phone(i),
                                   start=START, created_at=T0)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def identical_in_parallel(p):
    created = samples.envelope("invitee.created", p, created_at=at(0))
    return [created], [("parallel", [created] * 10)], {"invitee": p["uri"]}


def reschedule_halves_reversed(p):
    new = samples.rescheduled(p, start=START + timedelta(days=1), at=at(5))
    created = samples.envelope("invitee.created", p, created_at=at(0))
    cancelled = samples.envelope("invitee.canceled", samples.canceled(p, rescheduled_to=new["uri"], at=at(5)),
                                 created_at=at(5))
    new_created = samples.envelope("invitee.created", new, created_at=at(5))
    return [created, cancelled, new_created], [created, new_created, cancelled], {"old": p["uri"], "new": new["uri"]}


def cancel_before_create(p):
    created = samples.envelope("invitee.created", p, created_at=at(0))
    cancelled = samples.envelope("invitee.canceled", samples.canceled(p, at=at(2)), created_at=at(2))
    return [created, cancelled], [cancelled, created, cancelled], {"invitee": p["uri"]}


def no_show_then_removal(p):
    created = samples.envelope("invitee.created", p, created_at=at(0))
    marked = samples.envelope("invitee_no_show.created", samples.no_show_marked(p, at=at(60)), created_at=at(60))
    removed = samples.envelope("invitee_no_show.deleted", p, created_at=at(65))
    return [created, marked, removed], [created, removed, marked, removed], {"invitee": p["uri"]}


STORIES = [identical_in_parallel, reschedule_halves_reversed, cancel_before_create, no_show_then_removal]


def test_perturbed_deliveries_end_as_a_clean_run(redis_server, engagelab, brevo, make_stack):
    crm = {"CRM_BACKEND": "brevo", "BREVO_API_KEY": FakeBrevo.API_KEY, "BREVO_API_URL": brevo.url}
    stack = make_stack(redis_server.url, **harness.engagelab_env(engagelab.url), **crm)
    subprocess.run([str(harness.BIN / "relay"), "crm", "setup"], env=stack.env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack.start("web")
    told = []
    for i, story in enumerate(STORIES):
        clean_person, perturbed_person = person(i, "clean"), person(len(STORIES) + i, "perturbed")
        clean, _, clean_uris = story(clean_person)
        _, perturbed, perturbed_uris = story(perturbed_person)
        for envelope in clean:
            assert harness.post(stack, envelope) == 200
        deliveries = 0
        for step in perturbed:
            if isinstance(step, tuple):  # ("parallel", envelopes)
                with ThreadPoolExecutor(max_workers=len(step[1])) as pool:
                    assert set(pool.map(lambda e: harness.post(stack, e), step[1])) == {200}
                deliveries += len(step[1])
            else:
                assert harness.post(stack, step) == 200
                deliveries += 1
        told.append((story.__name__, (clean_person, clean_uris), (perturbed_person, perturbed_uris), deliveries))

    stack.start("scheduler")
    for _ in range(3):
        stack.start("worker")
    conn = redis_server.client()
    harness.wait_for(lambda: _quiet(conn), timeout=60, what="every queue drained")
    time.sleep(2)

    for name, clean, perturbed, deliveries in told:
        clean_outcome = _outcome(conn, engagelab, brevo, *clean)
        perturbed_outcome = _outcome(conn, engagelab, brevo, *perturbed)
        sms = clean_outcome["sms"]
        harness.record(f"ordering: {name.replace('_', ' ')}", deliveries, len(sms), len(perturbed_outcome["sms"]),
                       max(0, len(perturbed_outcome["sms"]) - len(sms)),
                       note="same records, SMS and contact as the clean run" if clean_outcome == perturbed_outcome
                       else "DIFFERS from the clean run")
        assert perturbed_outcome == clean_outcome, name


def _quiet(conn) -> bool:
    """Nothing queued, nothing running, no retry pending (the reminders are days away)."""
    if conn.zcount(Scheduler.scheduled_jobs_key, 0, time.time() + 3600):
        return False
    for name in defaults.WORKER_QUEUES:
        if Queue(name, connection=conn).count or StartedJobRegistry(name, connection=conn).count:
            return False
    return True


def _outcome(conn, engagelab, brevo, payload, uris) -> dict:
    store = BookingStore(conn)
    records = {}
    for role, uri in uris.items():
        record = store.load(uri)
        records[role] = None if record is None else (record.status, record.no_show_marked_at is not None
                                                     and record.no_show_cleared_at is None)
    phone = payload["text_reminder_number"].replace(" ", "").replace("-", "")
    contact = brevo.contacts.get(payload["email"])
    return {
        "records": records,
        "sms": sorted(m["template"] for m in engagelab.messages() if m["to"] == phone),
        "status": brevo.status_label(payload["email"]) if contact else None,
        "lists": sorted(contact["listIds"]) if contact else None,
        "events": sorted(e["event_name"] for e in brevo.events if e["identifiers"]["email_id"] == payload["email"]),
    }
