"""Helpers for tests: signed requests, deliveries, running jobs."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from rq import Queue

from shared import defaults
from shared.calendly import samples
from shared.calendly.signature import HEADER, generate_header
from worker.rq_worker import RelaySimpleWorker

SIGNING_KEY = "test-signing-key-5mEzn9C-I28UtwOjZJtFoob0sAAFZ95G"
WEBHOOK = "/webhooks/calendly"


def signed_headers(raw: bytes, key: str = SIGNING_KEY, timestamp: int | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", HEADER: generate_header(raw, key, timestamp=timestamp)}


def post_delivery(client, envelope: dict[str, Any], extra_headers: dict[str, str] | None = None, **header_options):
    raw = samples.body(envelope)
    return client.post(WEBHOOK, data=raw, headers={**signed_headers(raw, **header_options), **(extra_headers or {})})


def queued_jobs(conn, name: str = defaults.EVENTS_QUEUE):
    return Queue(name, connection=conn).get_jobs()


def run_jobs(conn) -> None:
    """Drain every relay queue in this process (jobs that enqueue jobs included)."""
    queues = [Queue(name, connection=conn) for name in defaults.WORKER_QUEUES]
    RelaySimpleWorker(queues, connection=conn).work(burst=True)


def console_messages(caplog) -> list[dict[str, Any]]:
    """What the console SMS backend "sent", in order."""
    return [
        {"kind": r._sms.kind, "to": r.to, "params": r._sms.params}
        for r in caplog.records
        if r.name == "relay.sms.console"
    ]


def crm_changes(caplog) -> list[dict[str, Any]]:
    return [
        {"status": r.status, "event": r.crm_event, "email": r.email}
        for r in caplog.records
        if r.name == "relay.crm.log"
    ]


def json_lines(text: str) -> list[dict[str, Any]]:
    """JSON log lines from a process's output (other lines are skipped)."""
    entries = []
    for line in text.splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            entries.append(json.loads(line[start:]))
        except ValueError:
            continue
    return entries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
