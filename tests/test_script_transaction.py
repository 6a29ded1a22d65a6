"""A transaction sent as one script (worker/script_transaction.py), against a real Redis:
what MULTI/EXEC would have done, in one command."""

import pytest
from redis.exceptions import ResponseError

from worker.script_transaction import send_as_one_script


def _queue_writes(pipeline):
    pipeline.hset("job", mapping={"status": "started", "worker": "w1", "attempt": 2})
    pipeline.expire("job", 600)
    pipeline.zadd("registry", {"job:exec": 1234.5})
    pipeline.persist("job")
    pipeline.sadd("set", "a", "b")


def test_the_commands_leave_what_the_transaction_leaves(conn):
    with conn.pipeline() as pipeline:
        _queue_writes(pipeline)
        pipeline.execute()
    by_transaction = {key: conn.dump(key) for key in (b"job", b"registry", b"set")}
    ttl = conn.ttl("job")
    conn.flushdb()
    with conn.pipeline() as pipeline:
        _queue_writes(pipeline)
        send_as_one_script(conn, pipeline)
        assert pipeline.command_stack == []  # reset, as execute() leaves it
    assert {key: conn.dump(key) for key in (b"job", b"registry", b"set")} == by_transaction
    assert conn.ttl("job") == ttl == -1


def test_a_failing_command_stops_none_of_the_others_and_is_raised(conn):
    conn.set("string", "x")
    with conn.pipeline() as pipeline:
        pipeline.hset("before", "f", "1")
        pipeline.hset("string", "f", "1")  # WRONGTYPE, as in EXEC
        pipeline.hset("after", "f", "1")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            send_as_one_script(conn, pipeline)
    assert conn.hget("before", "f") == conn.hget("after", "f") == b"1"


def test_it_is_one_round_trip_and_the_script_is_loaded_when_missing(conn, monkeypatch):
    from redis.connection import AbstractConnection

    conn.script_flush()
    sends = []
    send = AbstractConnection.send_packed_command
    monkeypatch.setattr(AbstractConnection, "send_packed_command",
                        lambda self, command, check_health=True: sends.append(1) or send(self, command, check_health))
    with conn.pipeline() as pipeline:
        _queue_writes(pipeline)
        send_as_one_script(conn, pipeline)  # NOSCRIPT, then loaded and run
        _queue_writes(pipeline)
        send_as_one_script(conn, pipeline)
    assert len(sends) == 3 + 1
    assert conn.hget("job", "attempt") == b"2"
