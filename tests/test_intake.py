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
        queue = intake.events_queue(client)
        barrier.wait()
        outcomes.append(intake.enqueue_once(queue, envelope, dedupe_ttl=3600)[0])
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
    queue = intake.events_queue(conn)
    assert intake.enqueue_once(queue, envelope, 3600)[0] == "accepted"
    assert intake.enqueue_once(queue, envelope, 3600)[0] == "duplicate"
