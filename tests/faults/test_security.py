"""Hostile and broken requests against the real web process: all refused, nothing
enqueued, and (as for every test of this suite) no secret or personal data in the logs."""

from __future__ import annotations

import time

import requests
from rq import Queue

from shared import settings as defaults
from shared.calendly import samples
from tests.faults import harness
from tests.helpers import signed_headers
from web.signature import HEADER


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
