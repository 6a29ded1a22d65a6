"""Dedupe and enqueue are one atomic step: racing identical deliveries make one job."""

import json
import threading
from datetime import datetime, timezone

import pytest
import redis
from rq.utils import utcformat

from shared.calendly import samples
from tests.helpers import queued_jobs
from web import intake


def test_parallel_identical_deliveries_produce_exactly_one_job(redis_url, conn):
    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    outcomes = []
    barrier = threading.Barrier(10)

    def deliver():
        client = redis.Redis.from_url(redis_url)  # a connection per "gunicorn worker"
        receiver = intake.Intake(client)
        barrier.wait()
        outcomes.append(receiver.enqueue_once(envelope, dedupe_ttl=3600)[0])
        client.close()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted"] + ["duplicate"] * 9
    assert len(queued_jobs(conn)) == 1


def test_delivery_id_ignores_everything_but_event_uri_and_created_at():
    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    changed = dict(envelope, created_by="someone else", payload=dict(envelope["payload"], name="Other"))
    assert intake.delivery_id(envelope) == intake.delivery_id(changed)
    assert intake.delivery_id(envelope) != intake.delivery_id(dict(envelope, event="invitee.canceled"))


def test_missing_created_at_still_dedupes(conn):
    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    del envelope["created_at"]
    receiver = intake.Intake(conn)
    assert receiver.enqueue_once(envelope, 3600)[0] == "accepted"
    assert receiver.enqueue_once(envelope, 3600)[0] == "duplicate"


def test_the_job_is_exactly_what_rq_would_have_enqueued(conn):
    """The script replays RQ's own commands: the job is fetched, queued and run by RQ."""
    from rq.job import Job

    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    status, ident = intake.Intake(conn).enqueue_once(envelope, 3600)
    job = Job.fetch(f"event-{ident}", connection=conn)
    assert job.get_status() == "queued" and job.origin == "events"
    assert job.args[0] == envelope and job.timeout == 60 and job.result_ttl == 24 * 3600
    assert conn.sismember("rq:queues", "rq:queue:events")
    assert 0 < conn.ttl(f"relay:dedupe:{ident}") <= 3600
    assert intake.recent(conn)[0]["id"] == ident


@pytest.mark.parametrize("kept", ["the parsed envelope", "the body as it came"])
def test_the_job_reads_back_as_rqs_own_enqueue_would_have_written_it(conn, kept):
    """Field by field against RQ's Queue.enqueue_call for the same call (times aside),
    whether the job keeps the envelope or the body it was parsed from (the receiver's way)."""
    from rq import Queue
    from rq.job import Job

    from shared import defaults

    envelope = samples.envelope("invitee.created", samples.invitee_payload(name="Zoë Ñúñez"))
    body = json.dumps(envelope, ensure_ascii=False).encode() if kept == "the body as it came" else None
    _, ident = intake.Intake(conn).enqueue_once(envelope, 3600, body=body)
    ours = Job.fetch(f"event-{ident}", connection=conn)
    rqs = Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue_call(
        defaults.PROCESS_EVENT_FUNC, args=(envelope,), job_id="rq-own", description=ours.description,
        **defaults.EVENT_JOB_OPTIONS)
    rqs = Job.fetch("rq-own", connection=conn)
    for name in ("func_name", "args", "kwargs", "origin", "description", "timeout", "result_ttl", "failure_ttl",
                 "retries_left", "dependency_ids", "meta", "success_callback", "failure_callback", "group_id"):
        assert getattr(ours, name) == getattr(rqs, name), name
    assert ours.get_status() == rqs.get_status() == "queued"
    assert ours.enqueued_at and ours.created_at
    assert conn.lrange("rq:queue:events", 0, -1) == [f"event-{ident}".encode(), b"rq-own"]


def test_a_duplicate_is_counted_in_the_same_round_trip(conn):
    from shared import stats

    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    receiver = intake.Intake(conn)
    receiver.enqueue_once(envelope, 3600)
    receiver.enqueue_once(envelope, 3600)
    assert stats.read(conn, "deliveries") == {("accepted",): 1, ("duplicate",): 1}


@pytest.mark.parametrize("moment", [datetime(2026, 12, 2, 8, 15, 30, 123456, tzinfo=timezone.utc),
                                    datetime(2026, 1, 9, 23, 0, 0, 0, tzinfo=timezone.utc),
                                    datetime(2027, 10, 31, 0, 59, 59, 999999, tzinfo=timezone.utc)])
def test_one_moment_is_formatted_once_for_all_three_uses(moment):
    iso, rq_time, hour = intake.stamps(moment)
    assert datetime.fromisoformat(iso) == moment
    assert rq_time == utcformat(moment)
    assert hour == moment.strftime("%Y%m%d%H")
