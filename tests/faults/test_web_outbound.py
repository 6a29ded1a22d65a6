"""The web process's own outbound call, through gunicorn's gevent worker: the OAuth code
exchange goes to Calendly over TLS with requests, on monkey-patched ssl and sockets. It
must work, and while it waits the same worker must go on answering deliveries (a call
that blocked the event loop would hold every connection of the worker)."""

from __future__ import annotations

import ssl
import threading
import time
from urllib.parse import parse_qs, urlsplit

import requests
import trustme

from shared.calendly import oauth, samples
from tests.fakes import FakeCalendly
from tests.faults import harness
from tests.helpers import signed_headers

SLOW_TOKEN_ANSWER = 3.0
"""Seconds Calendly's fake OAuth server waits: long enough to post a delivery meanwhile."""


def test_oauth_over_tls_from_the_web_process_leaves_it_answering(redis_server, make_stack, tmp_path):
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "calendly-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with FakeCalendly(tls=server_context) as calendly:
        stack = make_stack(
            redis_server.url, WEB_CONCURRENCY="1",  # one worker: the delivery shares it with the call
            CALENDLY_AUTH_URL=calendly.url, CALENDLY_API_URL=calendly.url,
            CALENDLY_CLIENT_ID=FakeCalendly.CLIENT[0], CALENDLY_CLIENT_SECRET=FakeCalendly.CLIENT[1],
            CALENDLY_REDIRECT_URI="https://relay.example.com/oauth/calendly/callback",
            REQUESTS_CA_BUNDLE=str(ca_file))  # requests verifies the fake's certificate
        stack.start("web")
        browser = requests.Session()  # the callback must come from the browser that started the flow
        start = browser.get(f"{stack.base_url}/oauth/calendly/start", allow_redirects=False, timeout=10,
                            headers={"Authorization": f"Bearer {harness.ADMIN_TOKEN}"})
        assert start.status_code == 302, start.text
        state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]

        calendly.delay = SLOW_TOKEN_ANSWER
        finished: dict[str, float] = {}
        answers: dict[str, requests.Response] = {}

        def connect():
            answers["callback"] = browser.get(f"{stack.base_url}/oauth/calendly/callback", timeout=30,
                                              params={"code": "good-code", "state": state})
            finished["callback"] = time.monotonic()

        thread = threading.Thread(target=connect)
        thread.start()
        harness.wait_for(lambda: calendly.arrived, timeout=10, what="the token request at Calendly")
        raw = samples.body(samples.envelope("invitee.created", samples.invitee_payload()))
        answers["delivery"] = requests.post(f"{stack.base_url}/webhooks/calendly", data=raw,
                                            headers=signed_headers(raw), timeout=30)
        finished["delivery"] = time.monotonic()
        thread.join(timeout=30)

    assert answers["callback"].status_code == 200, answers["callback"].text
    assert answers["callback"].json()["status"] == "connected"
    assert oauth.stored(redis_server.client())["access_token"] in calendly.tokens
    assert answers["delivery"].json()["status"] == "accepted"
    assert finished["delivery"] < finished["callback"], "the delivery waited for the worker's TLS call"
    logs = stack.logs()
    assert "MonkeyPatchWarning" not in logs and "RecursionError" not in logs and "Traceback" not in logs
