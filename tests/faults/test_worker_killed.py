"""A worker killed with SIGKILL in the middle of its work.

The job stays "started" in RQ's registry; JOB_TIMEOUT + 60 s after it started RQ counts
it abandoned, and the scheduler's recovery pass puts it back on its queue, where a new
worker runs it again.

Whether that re-run sends a duplicate depends on the provider: the duplicate window runs
from the moment EngageLab accepts the call to the moment the worker writes the "sent"
marker, i.e. the provider's own answer time plus one Redis write.

1. Two deliberate kills one fifth of a second into a one-second call:
   - EngageLab drops a call whose caller hung up: the message was never sent, the re-run
     delivers it once;
   - EngageLab acts on the call anyway: the re-run is the one duplicate allowed.
2. Kills at random moments while a stream of confirmations goes out (50 ms provider):
   how often a kill lands in the window, measured.
"""

from __future__ import annotations

import random
import time

from rq import Queue
from rq.registry import StartedJobRegistry

from shared import defaults
from shared.calendly import samples
from tests.faults import harness

DELIBERATE = 6
STREAM = 30
RANDOM_KILLS = 8


def _book(stack, first: int, count: int) -> None:
    for i in range(first, first + count):
        assert harness.post(stack, samples.envelope(
            "invitee.created", samples.invitee_payload(phone=harness.phone(i), email=f"p{i}@example.com"))) == 200


def _settled(conn, engagelab, expected) -> bool:
    if not expected <= {m["to"] for m in engagelab.messages()}:
        return False
    return all(not Queue(name, connection=conn).count and not conn.zcard(StartedJobRegistry(name, connection=conn).key)
               for name in defaults.WORKER_QUEUES)


def test_sigkill_mid_work_loses_nothing_and_duplicates_only_in_the_window(redis_server, engagelab, make_stack):
    engagelab.delay = 1.0
    stack = make_stack(redis_server.url, **harness.engagelab_env(engagelab.url))
    stack.start("web")
    stack.start("scheduler")
    worker = stack.start("worker")
    _book(stack, 0, DELIBERATE)
    for provider_drops_the_call in (True, False):
        engagelab.drop_if_gone = provider_drops_the_call
        seen = engagelab.arrived
        harness.wait_for(lambda: engagelab.arrived > seen, timeout=30, what="an SMS call in flight")
        time.sleep(0.2)  # inside the provider's one-second answer
        stack.kill(worker)
        worker = stack.start("worker")
        time.sleep(1.0)  # the fake has settled the killed call
    engagelab.drop_if_gone = False
    deliberate_duplicates_allowed = 1
    conn = redis_server.client()
    first_set = {harness.e164(i) for i in range(DELIBERATE)}
    harness.wait_for(  # the rest of the first set is out (the dropped one waits for its recovery)
        lambda: len(first_set & {m["to"] for m in engagelab.messages()}) >= DELIBERATE - 1
        and not Queue(defaults.SMS_QUEUE, connection=conn).count, timeout=30, what="the first set")

    engagelab.delay = 0.05
    _book(stack, DELIBERATE, STREAM)
    chance = random.Random(8)
    for _ in range(RANDOM_KILLS):
        time.sleep(chance.uniform(0.3, 1.5))  # the new worker has started and is working
        stack.kill(worker)
        worker = stack.start("worker")

    expected = {harness.e164(i) for i in range(DELIBERATE + STREAM)}
    deadline = defaults.JOB_TIMEOUT + 60 + defaults.ABANDONED_CHECK_INTERVAL + 90
    harness.wait_for(lambda: _settled(conn, engagelab, expected), timeout=deadline,
                     what="every killed job recovered and every confirmation sent")
    time.sleep(2)
    sent = [m["to"] for m in engagelab.messages()]
    dropped = len(engagelab.received("/v1/messages", status=0))
    recovered = int(conn.hget("relay:stats:recovered", "abandoned_job") or 0)
    stream_sent = [to for to in sent if to not in first_set]
    stream_duplicates = harness.duplicates(stream_sent)
    harness.record("worker SIGKILL mid call (deliberate)", 2, DELIBERATE,
                   len(first_set & set(sent)),
                   harness.duplicates(sent) - stream_duplicates,
                   note=f"{dropped} call dropped by the provider and re-sent once; 1 accepted before the kill")
    harness.record("worker SIGKILL at random moments", RANDOM_KILLS, STREAM, len(set(stream_sent)), stream_duplicates,
                   note=f"{recovered} abandoned jobs requeued in all; "
                        f"{stream_duplicates} of {RANDOM_KILLS} random kills fell in the duplicate window")
    assert set(sent) == expected
    assert dropped == 1
    assert harness.duplicates(sent) - stream_duplicates <= deliberate_duplicates_allowed
    assert stream_duplicates <= RANDOM_KILLS
    assert recovered >= 2
