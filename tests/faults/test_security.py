"""Hostile and broken requests against the real web process: all refused, nothing
enqueued, slow clients unable to hold it, and (as for every test of this suite) no secret
or personal data in the logs."""

from __future__ import annotations

import socket
import threading
import time

import requests
from rq import Queue

from shared import defaults
from shared.calendly import samples
from tests.faults import harness
from tests.helpers import signed_headers
from shared.calendly.signature import HEADER


def test_unsigned_forged_stale_replayed_oversized_and_tokenless_requests_are_refused(redis_server, make_stack):
    stack = make_stack(redis_server.url)
    stack.start("web")
    url = f"{stack.base_url}/webhooks/calendly"
    raw = samples.body(samples.envelope("invitee.created", samples.invitee_payload()))
    now = int(time.time())
    hostile = {
        "unsigned": dict(data=raw, headers={"Content-Type": "application/json"}),
        "wrong key": dict(data=raw, headers=signed_headers(raw, key="not-the-signing-key")),
        "tampered body": dict(data=raw.replace(b"Jane", b"Joan"), headers=signed_headers(raw)),
        "stale (beyond the tolerance)": dict(
            data=raw, headers=signed_headers(raw, timestamp=now - defaults.DEFAULT_WEBHOOK_TOLERANCE - 60)),
        "from the future": dict(data=raw, headers=signed_headers(raw, timestamp=now + defaults.FUTURE_SKEW + 60)),
        "garbage header": dict(data=raw, headers={HEADER: "t=abc,v1=" + "z" * 64}),
        "oversized body": dict(data=b"{" + b" " * (defaults.MAX_BODY_BYTES + 10) + b"}",
                               headers=signed_headers(b"{}")),
        "oversized header": dict(data=raw, headers={**signed_headers(raw), "X-Filler": "x" * 9000}),
    }
    answers = {name: requests.post(url, timeout=10, **request) for name, request in hostile.items()}
    for name, response in answers.items():
        assert 400 <= response.status_code < 500, (name, response.status_code)
    for name in ("unsigned", "wrong key", "tampered body", "stale (beyond the tolerance)", "from the future",
                 "garbage header", "oversized body"):
        body = answers[name].json()
        assert body["error"] and body["message"], name  # says what was wrong

    signed = signed_headers(raw)
    first = requests.post(url, data=raw, headers=signed, timeout=10)
    replay = requests.post(url, data=raw, headers=signed, timeout=10)  # the same request captured and re-sent
    assert first.json()["status"] == "accepted" and replay.json()["status"] == "duplicate"

    admin_surfaces = {f"{method} {path}": requests.request(method, f"{stack.base_url}{path}", timeout=10,
                                                           allow_redirects=False)
                      for method, path in (("GET", "/admin"), ("POST", "/admin/failed/some-job/retry"),
                                           ("GET", "/metrics"), ("GET", "/oauth/calendly/start"))}
    for path, response in admin_surfaces.items():
        assert response.status_code in (401, 403), (path, response.status_code)
    wrong = requests.get(f"{stack.base_url}/metrics", headers={"Authorization": "Bearer guess"}, timeout=10)
    assert wrong.status_code in (401, 403)

    queued = Queue(defaults.EVENTS_QUEUE, connection=redis_server.client()).count
    assert queued == 1  # only the genuine delivery, once
    refused = len(answers) + len(admin_surfaces) + 1
    harness.record("security: hostile requests", refused + 1, 1, queued, 0,
                   note=f"{refused} refused with a 4xx, the replay answered duplicate")


SLOW_CLIENTS = 20
TRICKLE_INTERVAL = 2.0
"""A slowloris: each connection sends one more header byte every 2 s and never ends its
headers, so a server that reads a request in its worker is held by each of them."""


class Trickle:
    """``count`` connections to the web process that trickle an unfinished request head,
    until the server closes them or ``stop``; when each was closed is kept."""

    def __init__(self, port: int, count: int, interval: float, limit: float = 60.0):
        self.interval, self.limit = interval, limit
        self.socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
        for sock in self.socks:
            sock.sendall(b"POST /webhooks/calendly HTTP/1.1\r\nHost: relay\r\nX-Slow: ")
        self.opened = time.monotonic()
        self.closed_after: dict[int, float] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopped.wait(self.interval) and time.monotonic() - self.opened < self.limit:
            for index, sock in enumerate(self.socks):
                if index in self.closed_after:
                    continue
                try:
                    sock.sendall(b"a")
                    sock.setblocking(False)
                    try:
                        gone = sock.recv(1024) == b""  # the server's FIN (or an answer, then FIN)
                    except BlockingIOError:
                        gone = False
                    finally:
                        sock.setblocking(True)
                except OSError:  # reset: the server closed it
                    gone = True
                if gone:
                    self.closed_after[index] = time.monotonic() - self.opened
            if len(self.closed_after) == len(self.socks):
                return

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)
        for sock in self.socks:
            sock.close()


def test_slow_clients_do_not_delay_a_signed_delivery(redis_server, make_stack):
    """Issue: with gunicorn's sync workers two such sockets kept Calendly out."""
    stack = make_stack(redis_server.url)
    stack.start("web")
    url = f"{stack.base_url}/webhooks/calendly"
    trickle = Trickle(stack.port, SLOW_CLIENTS, TRICKLE_INTERVAL)
    try:
        time.sleep(TRICKLE_INTERVAL + 0.5)  # every slow connection accepted and sending
        raw = samples.body(samples.envelope("invitee.created", samples.invitee_payload()))
        started = time.monotonic()
        try:
            response = requests.post(url, data=raw, headers=signed_headers(raw), timeout=10)
        except requests.Timeout:
            raise AssertionError(f"no answer within 10 s while {SLOW_CLIENTS} slow clients were connected") from None
        elapsed = time.monotonic() - started
        still_open = SLOW_CLIENTS - len(trickle.closed_after)
    finally:
        trickle.stop()
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert still_open == SLOW_CLIENTS  # they were all still there when the delivery came
    assert elapsed < 1.0, f"the delivery took {elapsed:.2f} s behind {SLOW_CLIENTS} slow clients"
    assert Queue(defaults.EVENTS_QUEUE, connection=redis_server.client()).count == 1
    harness.record("security: slowloris", SLOW_CLIENTS, 1, 1, 0,
                   note=f"delivery answered in {elapsed * 1000:.0f} ms beside {SLOW_CLIENTS} trickling connections")


def test_a_request_head_that_never_ends_is_cut_off(redis_server, make_stack):
    """Each slow connection costs the server a little memory for a bounded time: the
    request head must arrive within WEB_HEADER_TIMEOUT, however steadily it trickles."""
    stack = make_stack(redis_server.url)
    stack.start("web")
    trickle = Trickle(stack.port, 3, 0.5, limit=defaults.WEB_HEADER_TIMEOUT + 20)
    try:
        harness.wait_for(lambda: len(trickle.closed_after) == 3, timeout=defaults.WEB_HEADER_TIMEOUT + 15,
                         what="the web process to close connections whose request head never ends")
    finally:
        trickle.stop()
    assert all(after >= defaults.WEB_HEADER_TIMEOUT - 0.5 for after in trickle.closed_after.values()), \
        trickle.closed_after  # not cut off early either


def test_a_body_that_never_comes_is_answered_408_and_closed(redis_server, make_stack):
    """A complete head, then silence: without a deadline the connection was held for good
    (2 workers x 1000 such sockets kept Calendly out)."""
    stack = make_stack(redis_server.url)
    stack.start("web")
    silent = [socket.create_connection(("127.0.0.1", stack.port), timeout=defaults.WEB_BODY_TIMEOUT + 15)
              for _ in range(5)]
    started = time.monotonic()
    for sock in silent:
        sock.sendall(b"POST /webhooks/calendly HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 2000\r\n\r\n{")
    raw = samples.body(samples.envelope("invitee.created", samples.invitee_payload()))
    assert requests.post(f"{stack.base_url}/webhooks/calendly", data=raw, headers=signed_headers(raw),
                         timeout=10).status_code == 200
    answers = []
    for sock in silent:
        with sock:
            answers.append(_read_all(sock))
    waited = time.monotonic() - started
    assert all(answer.startswith(b"HTTP/1.1 408") and b'"error": "request_timeout"' in answer for answer in answers)
    assert defaults.WEB_BODY_TIMEOUT - 1 <= waited < defaults.WEB_BODY_TIMEOUT + 10, waited


def test_a_chunked_body_over_the_limit_is_413_not_cut_and_refused_as_forged(redis_server, make_stack):
    stack = make_stack(redis_server.url)
    stack.start("web")

    def chunks():
        for _ in range(defaults.MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    response = requests.post(f"{stack.base_url}/webhooks/calendly", data=chunks(), timeout=30,
                             headers={"Content-Type": "application/json", HEADER: "t=1,v1=00"})
    assert response.status_code == 413 and response.json()["error"] == "request_entity_too_large"
    assert redis_server.client().hgetall("relay:stats:signature_rejections") == {}


def _read_all(sock) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data
