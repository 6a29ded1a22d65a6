"""The anchor for the burst drain (issue 19, target 3): RQ doing only the work no relay
built on RQ can skip, in the relay's shape of two jobs per booking.

- ``apply(envelope)``, from the events queue: reads the invitee's number and enqueues
  ``send(to)`` on the sms queue (the relay applies the delivery and plans the message);
- ``send(to)``: one POST to the provider over a kept-alive connection with the standard
  library's HTTP client (the relay renders, guards and sends, then records the message once).

Served by ``rq worker`` with the relay's own worker class (``RelaySimpleWorker``: jobs in
the worker process, RQ's bookkeeping trimmed as the relay trims it) and logging quiet: no
booking record, no send-once key, no ledger, no counters, no log lines. What the relay
does beyond this is its own cost; the difference with the relay's figure in the same run
is what it pays for them.
"""

from __future__ import annotations

import http.client
import json
import os
from urllib.parse import urlsplit

from rq import Queue, get_current_job

_connection: http.client.HTTPConnection | None = None


def apply(envelope: dict) -> None:
    job = get_current_job()
    to = envelope["payload"].get("text_reminder_number")
    Queue("sms", connection=job.connection).enqueue(send, to)


def send(to: str) -> None:
    """One POST over a kept-alive connection, with the standard library's client: the least
    a send can cost in Python (the relay uses requests, as most Python code does)."""
    global _connection
    url = urlsplit(os.environ["ENGAGELAB_API_URL"])
    if _connection is None:
        _connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    body = json.dumps({"to": [to], "template": {"id": "1", "params": {}}})
    _connection.request("POST", url.path.rstrip("/") + "/v1/messages", body, {"Content-Type": "application/json"})
    answer = _connection.getresponse()
    answer.read()
    if answer.status != 200:
        raise RuntimeError(f"provider answered {answer.status}")


def remind(booking_key: str, sent_key: str) -> None:
    """The least a reminder can do when it fires: read its booking and claim its
    send-once key (the console provider sends nothing over the network)."""
    connection = get_current_job().connection
    connection.get(booking_key)
    connection.set(sent_key, "1", nx=True, ex=86400)
