"""The relay's RQ worker classes: RQ's workers with fewer standalone heartbeats."""

from datetime import timedelta

from rq import Queue

from shared import settings as defaults
from worker.rq_worker import RelaySimpleWorker


def _stored_heartbeat(conn, worker):
    return conn.hget(worker.key, "last_heartbeat")


def test_standalone_heartbeats_are_throttled_but_job_heartbeats_are_not(conn):
    worker = RelaySimpleWorker([Queue("events", connection=conn)], connection=conn)
    worker.register_birth()
    worker.heartbeat()
    first = _stored_heartbeat(conn, worker)
    conn.hset(worker.key, "last_heartbeat", "marker")

    worker.heartbeat()  # within the interval: nothing written
    assert _stored_heartbeat(conn, worker) == b"marker"

    worker.heartbeat(timeout=600)  # a job's start raises the TTL: always written
    assert _stored_heartbeat(conn, worker) not in (b"marker", None)
    assert conn.ttl(worker.key) > 500

    conn.hset(worker.key, "last_heartbeat", "marker")
    worker.last_heartbeat -= timedelta(seconds=defaults.WORKER_HEARTBEAT_MIN_INTERVAL + 1)
    worker.heartbeat()  # the interval has passed
    assert _stored_heartbeat(conn, worker) != b"marker" and first is not None


def test_the_worker_key_outlives_the_heartbeat_interval_many_times(conn):
    # RQ's worker key expires worker_ttl + 60 s after a heartbeat; throttling must not let it lapse.
    worker = RelaySimpleWorker([Queue("events", connection=conn)], connection=conn)
    assert worker.worker_ttl + 60 > 10 * defaults.WORKER_HEARTBEAT_MIN_INTERVAL
