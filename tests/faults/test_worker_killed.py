"""A worker killed with SIGKILL in the middle of an SMS call.

The job stays "started" in RQ's registry; JOB_TIMEOUT + 60 s after it started RQ counts
it abandoned, and the scheduler's recovery pass puts it back on its queue, where a new
worker sends it.

Whether that re-send is a duplicate depends on the provider: the duplicate window runs
from the moment EngageLab accepts the call to the moment the worker writes the "sent"
marker, i.e. the provider's own answer time plus a Redis write. Each kill here lands one
fifth of a second into a one-second call, so the window is hit deliberately:
- kill 1, EngageLab drops a call whose caller hung up: the message was never sent, the
  re-send delivers it once;
- kill 2, EngageLab acts on the call anyway: the re-send is the one duplicate allowed.
"""

from __future__ import annotations

import time

from shared import settings as defaults
from shared.calendly import samples
from tests.faults import harness

BOOKINGS = 6


def _recovered(redis_server) -> int:
    return int(redis_server.client().hget("relay:stats:recovered", "abandoned_job") or 0)


def test_sigkill_mid_call_loses_nothing_and_duplicates_only_in_the_window(redis_server, engagelab, make_stack):
    engagelab.delay = 1.0
    stack = make_stack(redis_server.url, **harness.engagelab_env(engagelab.url))
    stack.start("web")
    stack.start("scheduler")
    worker = stack.start("worker")
    for i in range(BOOKINGS):
        assert harness.post(stack, samples.envelope(
            "invitee.created", samples.invitee_payload(phone=harness.phone(i), email=f"p{i}@example.com"))) == 200

    kills = 0
    for provider_drops_the_call in (True, False):
        engagelab.drop_if_gone = provider_drops_the_call
        seen = engagelab.arrived
        harness.wait_for(lambda: engagelab.arrived > seen, timeout=30, what="an SMS call in flight")
        time.sleep(0.2)  # inside the provider's one-second answer
        stack.kill(worker)
        kills += 1
        worker = stack.start("worker")
        time.sleep(1.0)  # the fake has settled the killed call
    engagelab.drop_if_gone = False

    deadline = defaults.JOB_TIMEOUT + 60 + defaults.ABANDONED_CHECK_INTERVAL + 60
    expected = {harness.e164(i) for i in range(BOOKINGS)}
    harness.wait_for(lambda: _recovered(redis_server) >= kills and expected <= {m["to"] for m in engagelab.messages()},
                     timeout=deadline, what="both killed jobs recovered and every confirmation sent")
    time.sleep(3)  # nothing more arrives
    sent = [m["to"] for m in engagelab.messages()]
    dropped = len(engagelab.received("/v1/messages", status=0))
    duplicated = harness.duplicates(sent)
    harness.record("worker SIGKILL mid SMS call", kills, BOOKINGS, len(set(sent)), duplicated,
                   note=f"{dropped} call dropped by the provider, re-sent once; "
                        f"{kills - dropped} accepted before the kill, duplicated by the re-send")
    assert set(sent) == expected
    assert dropped == 1
    assert duplicated <= kills - dropped
