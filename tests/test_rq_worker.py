"""The relay's RQ worker classes: RQ's workers with fewer standalone heartbeats."""

from datetime import timedelta

from rq import Queue

from shared import defaults
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


PAYLOAD = {"name": "Zebulon Quixote-Marsh", "phone": "(404) 555-9876", "email": "zebulon@example.org",
           "cancel_url": "https://calendly.com/cancellations/7d1c5e0a-canary"}


def explode(data):
    """A job that fails the way real code does: Python's message quotes the value."""
    return int(data["name"])


def test_a_failing_job_logs_and_stores_no_part_of_its_arguments(conn):
    import io
    import logging

    from shared import logs
    from shared.operations import failures

    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure(stream=stream)
    try:
        queue = Queue("events", connection=conn)
        job = queue.enqueue("tests.test_rq_worker.explode", PAYLOAD, description="explode")
        RelaySimpleWorker([queue], connection=conn).work(burst=True)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    text = stream.getvalue()
    stored = job.latest_result().exc_string
    for canary in ("Zebulon", "Quixote", "555-9876", "zebulon@", "7d1c5e0a"):
        assert canary not in text, f"{canary} in the log"
        assert canary not in stored, f"{canary} kept with the failed job"
    # What an operator needs is still there: where it failed and what was raised.
    assert "ValueError: invalid literal for int() with base 10: '…'" in stored
    assert 'in explode' in stored and 'in explode' in text
    assert '"job": "%s"' % job.id in text
    assert failures(conn)[0].reason == "builtins.ValueError: invalid literal for int() with base 10: '…'"


def test_an_unchanged_state_is_not_written_again_and_suspension_is_checked_once_a_second(conn):
    import time

    import pytest
    from rq.exceptions import StopRequested
    from rq.suspension import resume, suspend
    from rq.worker import WorkerStatus

    worker = RelaySimpleWorker([Queue("events", connection=conn)], connection=conn)
    worker.register_birth()
    worker.set_state(WorkerStatus.IDLE)
    conn.hset(worker.key, "state", "marker")
    worker.set_state(WorkerStatus.IDLE)  # RQ's second "idle" of a job: nothing written
    assert conn.hget(worker.key, "state") == b"marker"
    worker.set_state(WorkerStatus.BUSY)  # a change is always written
    assert conn.hget(worker.key, "state") == b"busy"

    worker.check_for_suspension(burst=True)
    suspend(conn)
    try:
        worker.check_for_suspension(burst=True)  # checked less than a second ago: not yet seen
        worker._suspension_checked = time.monotonic() - defaults.WORKER_SUSPENSION_CHECK_INTERVAL
        with pytest.raises(StopRequested):  # a suspended worker in burst mode stops
            worker.check_for_suspension(burst=True)
    finally:
        resume(conn)


def test_the_worker_is_shown_idle_after_a_job(conn):
    # RQ writes "busy" in the job's start transaction; the "idle" after the job must follow.
    queues = [Queue("events", connection=conn), Queue("sms", connection=conn)]
    queues[0].enqueue(len, "abc")
    worker = RelaySimpleWorker(queues, connection=conn)
    worker.work(burst=True)
    assert conn.hget(worker.key, "state") in (b"idle", None)  # None: the burst worker has left
    worker = RelaySimpleWorker(queues, connection=conn)
    worker.register_birth()
    queues[1].enqueue(len, "abcd")
    job, queue = worker.dequeue_job_and_maintain_ttl(None)
    worker.execute_job(job, queue)
    # The job's finish goes with the worker's next look at its queues (FinishWithNextTake).
    assert worker.queue_class.dequeue_any(worker.queues, None, connection=conn) is None
    assert conn.hget(worker.key, "state") == b"idle"


def test_while_redis_is_down_the_worker_tries_again_at_least_every_few_seconds(conn, monkeypatch):
    """RQ's own wait between tries doubles up to 60 s; the relay's stops growing at
    WORKER_REDIS_RETRY_MAX_WAIT, so work resumes soon after a long outage ends."""
    import redis
    from rq.worker import base

    from worker.rq_bookkeeping import TakeAndReadQueue

    failures = iter(range(8))
    waits = []

    def unreachable_then_empty(cls, *args, **kwargs):
        if next(failures, None) is not None:
            raise redis.exceptions.ConnectionError("Connection refused")
        return None

    monkeypatch.setattr(TakeAndReadQueue, "dequeue_any", classmethod(unreachable_then_empty))
    monkeypatch.setattr(base.time, "sleep", waits.append)
    worker = RelaySimpleWorker([Queue("events", connection=conn)], connection=conn)
    worker.register_birth()
    assert worker.dequeue_job_and_maintain_ttl(timeout=1) is None
    cap = defaults.WORKER_REDIS_RETRY_MAX_WAIT
    assert waits == [1, 2, 4] + [cap] * 5 and cap <= 10


def test_redis_going_away_during_the_registry_cleaning_does_not_end_the_worker(conn, monkeypatch, caplog):
    """RQ runs its registry cleaning (and the suspension check) outside the try that waits
    for Redis: an outage then ended the worker. The relay's worker logs it, waits for Redis
    in the dequeue, and works on; the cleaning is tried again."""
    import redis
    from rq.worker import base

    cleanings = []

    def clean_registries(worker):
        cleanings.append(1)
        if len(cleanings) == 1:
            raise redis.exceptions.ConnectionError("Connection closed by server.")

    monkeypatch.setattr(base.BaseWorker, "clean_registries", clean_registries)
    queue = Queue("events", connection=conn)
    job = queue.enqueue("builtins.len", "abc")
    assert RelaySimpleWorker([queue], connection=conn).work(burst=True)
    assert job.get_status(refresh=True) == "finished" and len(cleanings) >= 2  # tried again
    assert "redis unreachable during the registry cleaning" in caplog.text


def test_redis_going_away_as_the_worker_writes_its_idle_state_does_not_end_it(conn, monkeypatch, caplog):
    """RQ writes "idle" before its dequeue's try: an outage there ended the worker too."""
    import redis
    from rq.worker import base

    writes = []
    set_state = base.BaseWorker.set_state

    def flaky(worker, state, pipeline=None):
        writes.append(state)
        if len(writes) == 1 and pipeline is None:
            raise redis.exceptions.ConnectionError("Error 111 connecting. Connection refused.")
        return set_state(worker, state, pipeline)

    monkeypatch.setattr(base.BaseWorker, "set_state", flaky)
    queue = Queue("events", connection=conn)
    job = queue.enqueue("builtins.len", "abc")
    assert RelaySimpleWorker([queue], connection=conn).work(burst=True)
    assert job.get_status(refresh=True) == "finished"
    assert "redis unreachable writing the worker's state" in caplog.text
