"""Dedupe and enqueue are one atomic step: racing identical deliveries make one job."""

import threading

import redis

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


def test_the_job_reads_back_as_rqs_own_enqueue_would_have_written_it(conn):
    """Field by field against RQ's Queue.enqueue_call for the same call (times aside)."""
    from rq import Queue
    from rq.job import Job

    from shared import defaults

    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    _, ident = intake.Intake(conn).enqueue_once(envelope, 3600)
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
