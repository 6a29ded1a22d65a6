"""RQ's per-job bookkeeping in fewer round trips (worker/rq_bookkeeping.py) and the queue
order after a delivery (worker/rq_worker.MessagesBetweenDeliveries), against a real Redis."""

from rq import Queue, SimpleWorker, get_current_job
from rq.job import Job, JobStatus
from rq.registry import FinishedJobRegistry, StartedJobRegistry

from shared import defaults
from worker.rq_worker import RelaySimpleWorker


def add(a, b):
    return a + b


def own_status():
    """What Redis says about the running job, from inside it."""
    job = get_current_job()
    registry = StartedJobRegistry(job.origin, connection=job.connection)
    return {"status": job.connection.hget(job.key, "status").decode(),
            "started_at": bool(job.connection.hget(job.key, "started_at")),
            "registered": any(entry.startswith(job.id) for entry in registry.get_job_ids())}


def note(name):
    get_current_job().connection.rpush("order", name)


def _run(worker_class, conn, func, *args):
    queue = Queue("events", connection=conn)
    job = queue.enqueue(func, *args, result_ttl=600)
    # Two queues, as the relay's workers have: one queue takes RQ's own dequeue.
    worker = worker_class([queue, Queue("sms", connection=conn)], connection=conn)
    worker.work(burst=True)
    return Job.fetch(job.id, connection=conn), worker


def _outcome(conn, job, worker):
    """Everything a finished job leaves in Redis, in the terms RQ's own readers use."""
    stored = conn.hgetall(job.key)
    return {
        "status": job.get_status(),
        "return_value": job.return_value(),
        "ended_at": job.ended_at is not None and job.ended_at >= job.started_at,
        "fields": sorted(field.decode() for field in stored),
        "finished": job.id in FinishedJobRegistry("events", connection=conn),
        "started": StartedJobRegistry("events", connection=conn).get_job_ids(),
        "job_ttl": 0 < conn.ttl(job.key) <= 600,
        "executions": conn.keys(f"rq:execution:{job.id}:*"),
        "successful_job_count": conn.hget(worker.key, "successful_job_count"),
        "worked": float(conn.hget(worker.key, "total_working_time") or 0) > 0,
    }


def test_a_finished_job_leaves_what_rqs_own_worker_leaves(conn):
    ours = _outcome(conn, *_run(RelaySimpleWorker, conn, add, 2, 3))
    conn.flushdb()
    rqs = _outcome(conn, *_run(SimpleWorker, conn, add, 2, 3))
    assert ours == rqs
    assert ours["status"] == JobStatus.FINISHED and ours["return_value"] == 5 and ours["finished"]


def test_the_job_is_started_and_registered_in_redis_before_it_runs(conn):
    job, _ = _run(RelaySimpleWorker, conn, own_status)
    assert job.return_value() == {"status": "started", "started_at": True, "registered": True}


def delete_itself():
    job = get_current_job()
    job.connection.delete(job.key)  # as a STOP or a cancellation removes a pending reminder


def test_a_job_deleted_while_it_ran_leaves_no_stub_behind(conn):
    job_id = Queue("events", connection=conn).enqueue(delete_itself).id
    RelaySimpleWorker([Queue("events", connection=conn), Queue("sms", connection=conn)], connection=conn).work(burst=True)
    assert not conn.exists(f"rq:job:{job_id}")


def test_a_job_hash_without_its_data_is_skipped_and_the_worker_goes_on(conn):
    from worker.rq_bookkeeping import TakeAndReadQueue

    queues = [TakeAndReadQueue(name, connection=conn) for name in ("first", "second")]
    broken = queues[0].enqueue(add, 1, 1)
    conn.hdel(broken.key, "data")
    good = queues[1].enqueue(add, 2, 2)
    job, _ = TakeAndReadQueue.dequeue_any(queues, None, connection=conn)
    assert job.id == good.id


def test_a_job_with_a_dependent_releases_it(conn):
    queue = Queue("events", connection=conn)
    first = queue.enqueue(add, 1, 1)
    second = queue.enqueue(add, 2, 2, depends_on=first)
    assert second.get_status() == JobStatus.DEFERRED
    RelaySimpleWorker([queue], connection=conn).work(burst=True)
    assert Job.fetch(second.id, connection=conn).return_value() == 4


def test_after_a_delivery_the_messages_come_first(conn):
    queues = {name: Queue(name, connection=conn) for name in defaults.WORKER_QUEUES}
    for i in range(3):
        queues[defaults.EVENTS_QUEUE].enqueue(note, f"event{i}")
        queues[defaults.SMS_QUEUE].enqueue(note, f"sms{i}")
    queues[defaults.CALLBACKS_QUEUE].enqueue(note, "callback")
    queues[defaults.REMINDERS_QUEUE].enqueue(note, "reminder")
    RelaySimpleWorker(list(queues.values()), connection=conn).work(burst=True)
    order = [name.decode() for name in conn.lrange("order", 0, -1)]
    # Strict priority would apply every delivery before the first message.
    assert order == ["event0", "callback", "sms0", "event1", "sms1", "event2", "sms2", "reminder"]


def test_waiting_jobs_are_taken_and_read_in_one_round_trip_in_priority_order(conn, monkeypatch):
    from worker.rq_bookkeeping import TakeAndReadQueue

    queues = [TakeAndReadQueue(name, connection=conn) for name in ("first", "second")]
    later = queues[1].enqueue(add, 1, 2)
    sooner = queues[0].enqueue(add, 3, 4, meta={"note": "kept"})
    gone = queues[0].enqueue(add, 5, 6)
    queues[0].connection.delete(gone.key)  # deleted while it waited: skipped, as RQ skips it
    sent = []
    execute = conn.execute_command
    monkeypatch.setattr(conn, "execute_command", lambda *args, **options: sent.append(args[0]) or execute(*args, **options))

    job, queue = TakeAndReadQueue.dequeue_any(queues, None, connection=conn)
    assert (job.id, queue.name, job.args, job.meta, job.func_name) == (sooner.id, "first", (3, 4), {"note": "kept"},
                                                                      sooner.func_name)
    assert sent == ["EVALSHA"] or sent == ["EVALSHA", "SCRIPT LOAD", "EVALSHA"]  # the script's first use

    job, queue = TakeAndReadQueue.dequeue_any(queues, None, connection=conn)  # the deleted one is passed over
    assert (job.id, queue.name) == (later.id, "second")
    assert TakeAndReadQueue.dequeue_any(queues, None, connection=conn) is None


def test_an_idle_worker_blocks_as_rqs_and_takes_what_arrives(conn):
    import threading
    import time

    from worker.rq_bookkeeping import TakeAndReadQueue

    queues = [TakeAndReadQueue(name, connection=conn) for name in ("first", "second")]
    threading.Timer(0.3, lambda: queues[1].enqueue(add, 7, 8)).start()
    started = time.monotonic()
    job, queue = TakeAndReadQueue.dequeue_any(queues, 5, connection=conn)
    assert (queue.name, job.args) == ("second", (7, 8)) and time.monotonic() - started < 3


def test_each_serializer_is_checked_once_and_answers_as_rqs_own(monkeypatch):
    import importlib

    from rq import serializers
    from worker import rq_bookkeeping

    checks = []
    monkeypatch.setattr(serializers, "resolve_serializer",
                        lambda serializer=None, check=serializers.resolve_serializer: checks.append(serializer)
                        or check(serializer))
    monkeypatch.setattr(rq_bookkeeping.resolve_serializer_once, "__defaults__", (None, {}))
    for name in rq_bookkeeping.SERIALIZER_USERS:
        assert importlib.import_module(name).resolve_serializer is rq_bookkeeping.resolve_serializer_once
    resolve = rq_bookkeeping.resolve_serializer_once
    for _ in range(3):
        assert resolve(serializers.JSONSerializer) is serializers.JSONSerializer
        assert resolve("rq.serializers.JSONSerializer") is serializers.JSONSerializer
        assert resolve(None) is serializers.DefaultSerializer
        try:
            resolve(object())
        except NotImplementedError:
            pass
        else:
            raise AssertionError("a serializer without dumps and loads was accepted")
    assert len(checks) == 3 + 3  # three kept, and the refused one asked each time


def _count_round_trips(monkeypatch):
    from redis.connection import AbstractConnection

    sent = []
    send = AbstractConnection.send_packed_command
    monkeypatch.setattr(AbstractConnection, "send_packed_command",
                        lambda self, command, check_health=True: sent.append(1) or send(self, command, check_health))
    return sent


def _worker_with_two_jobs(conn, born=True):
    queues = [Queue("events", connection=conn), Queue("sms", connection=conn)]
    first, second = queues[0].enqueue(add, 1, 2, result_ttl=600), queues[1].enqueue(add, 3, 4, result_ttl=600)
    worker = RelaySimpleWorker(queues, connection=conn)
    if born:  # as work() does before its loop
        worker.register_birth()
    return worker, first, second


def test_a_jobs_finish_travels_with_the_next_take(conn, monkeypatch):
    worker, first, second = _worker_with_two_jobs(conn)
    worker.execute_job(*worker.dequeue_job_and_maintain_ttl(None))
    assert first.get_status(refresh=True) == JobStatus.STARTED  # not sent yet
    sent = _count_round_trips(monkeypatch)
    job, queue = worker.queue_class.dequeue_any(worker.queues, None, connection=conn)
    assert (job.id, len(sent)) == (second.id, 1)
    assert first.get_status(refresh=True) == JobStatus.FINISHED and first.return_value() == 3
    assert conn.hget(worker.key, "state") == b"idle"


def test_running_a_job_takes_one_round_trip_its_start(conn, monkeypatch):
    """The start transaction, and nothing else until the next take: SimpleWorker's "idle"
    after the job is written by the held finish, not in a round trip of its own."""
    worker, first, second = _worker_with_two_jobs(conn)
    taken = worker.dequeue_job_and_maintain_ttl(None)
    sent = _count_round_trips(monkeypatch)
    worker.execute_job(*taken)
    assert len(sent) == 1
    assert conn.hget(worker.key, "state") == b"busy"  # until the finish goes, with the next take
    worker.queue_class.dequeue_any(worker.queues, None, connection=conn)
    assert conn.hget(worker.key, "state") == b"idle" and worker.get_state() == "idle"


def test_a_finish_is_sent_when_the_script_cache_was_emptied(conn):
    worker, first, second = _worker_with_two_jobs(conn)
    worker.execute_job(*worker.dequeue_job_and_maintain_ttl(None))
    conn.script_flush()  # as after a restart of Redis
    job, queue = worker.queue_class.dequeue_any(worker.queues, None, connection=conn)
    assert job.id == second.id and first.get_status(refresh=True) == JobStatus.FINISHED


def test_a_worker_that_stops_after_a_job_sends_its_finish(conn):
    worker, first, second = _worker_with_two_jobs(conn, born=False)
    worker.work(burst=True, max_jobs=1)
    assert first.get_status(refresh=True) == JobStatus.FINISHED and first.return_value() == 3
    assert second.get_status(refresh=True) == JobStatus.QUEUED


def test_with_rqs_own_queue_class_each_finish_is_sent_at_once(conn):
    # `rq worker -w worker.rq_worker.RelaySimpleWorker` passes RQ's Queue as the queue class.
    queue = Queue("reminders", connection=conn)
    job = queue.enqueue(add, 5, 6, result_ttl=600)
    worker = RelaySimpleWorker([queue], connection=conn, queue_class=Queue)
    worker.register_birth()
    worker.execute_job(*worker.dequeue_job_and_maintain_ttl(None))
    assert job.get_status(refresh=True) == JobStatus.FINISHED and job.return_value() == 11


def test_a_finish_lost_with_the_connection_goes_with_the_next_attempt(conn, monkeypatch):
    import pytest
    from redis.client import Pipeline
    from redis.exceptions import ConnectionError

    worker, first, second = _worker_with_two_jobs(conn)
    worker.execute_job(*worker.dequeue_job_and_maintain_ttl(None))
    execute = Pipeline.execute
    monkeypatch.setattr(Pipeline, "execute", lambda self, *a, **k: (_ for _ in ()).throw(ConnectionError("gone")))
    with pytest.raises(ConnectionError):
        worker.queue_class.dequeue_any(worker.queues, None, connection=conn)
    monkeypatch.setattr(Pipeline, "execute", execute)
    assert first.get_status(refresh=True) == JobStatus.STARTED
    job, _ = worker.queue_class.dequeue_any(worker.queues, None, connection=conn)  # RQ's loop tries again
    assert job.id == second.id and first.get_status(refresh=True) == JobStatus.FINISHED


def test_a_suspended_worker_first_sends_its_last_finish(conn):
    import threading
    import time

    from rq.suspension import resume, suspend

    worker, first, _ = _worker_with_two_jobs(conn)
    worker.execute_job(*worker.dequeue_job_and_maintain_ttl(None))
    suspend(conn)
    waiting = threading.Thread(target=worker.check_for_suspension, args=(False,))
    waiting.start()
    try:
        deadline = time.monotonic() + 5
        while first.get_status(refresh=True) != JobStatus.FINISHED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.get_status(refresh=True) == JobStatus.FINISHED  # while still suspended
    finally:
        resume(conn)
        waiting.join(timeout=5)
