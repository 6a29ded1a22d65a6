"""Two scheduler processes and three workers at once: every reminder exactly once."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from shared.calendly import samples
from tests.faults import harness


def test_two_schedulers_and_three_workers_send_every_reminder_once(redis_server, engagelab, make_stack):
    stack = make_stack(redis_server.url, REMINDER_OFFSETS="5s,3s", TEMPLATE_ID_CONFIRM="",
                       **harness.engagelab_env(engagelab.url))
    stack.start("web")
    for kind in ("scheduler", "scheduler", "worker", "worker", "worker"):
        stack.start(kind)
    count = 8
    start = datetime.now(timezone.utc) + timedelta(seconds=10)
    for i in range(count):
        assert harness.post(stack, samples.envelope("invitee.created", samples.invitee_payload(
            phone=harness.phone(i), email=f"c{i}@example.com", start=start))) == 200
    expected = 2 * count  # two reminders each
    harness.wait_for(lambda: len(engagelab.messages()) >= expected, timeout=30, what="every reminder")
    time.sleep(2)
    sent = [(m["to"], m["params"].get("advance")) for m in engagelab.messages()]
    harness.record("2 schedulers + 3 workers", 0, expected, len(set(sent)), harness.duplicates(sent))
    assert len(sent) == expected
    assert sorted(m["to"] for m in engagelab.messages()) == sorted(harness.e164(i) for i in range(count) for _ in "12")
