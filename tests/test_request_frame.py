"""The outermost layer of the web process (web/request_frame.py): a request id on every log
line and every answer, and the security headers on answers Flask never sees."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from shared import defaults, logs
from shared.calendly import samples
from tests.helpers import WEBHOOK, post_delivery, signed_headers
from web.security import HEADERS

GENERATED = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def json_log():
    """The relay.web lines as production writes them (the request id is read when a line is
    formatted, from the request being served)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("relay.web")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def created():
    return samples.envelope("invitee.created", samples.invitee_payload())


def test_a_well_formed_request_id_is_echoed_and_logged(client, json_log):
    response = post_delivery(client, created(), extra_headers={"X-Request-Id": "heroku-router.7f3a_1"})
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "heroku-router.7f3a_1"
    [line] = [line for line in json_log() if line["msg"].startswith("webhook accepted")]
    assert line["request_id"] == "heroku-router.7f3a_1"
    assert logs.request_id.get() is None  # nothing leaks into the next request


@pytest.mark.parametrize("given", [None, "", "has spaces", "x" * 65, "+1 404 555 1234", "id\n", "id\nX-Evil: 1"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_fresh_one(client, json_log, given):
    # Through the environ: the test client refuses to send a newline in a header.
    environ = {} if given is None else {"HTTP_X_REQUEST_ID": given}
    raw = samples.body(created())
    response = client.post(WEBHOOK, data=raw, headers=signed_headers(raw), environ_base=environ)
    echoed = response.headers["X-Request-Id"]
    assert GENERATED.match(echoed)
    [line] = [line for line in json_log() if line["msg"].startswith("webhook accepted")]
    assert line["request_id"] == echoed


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/healthz").headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


def test_answers_flask_never_sees_are_framed_too(client):
    """BoundedBody refuses an oversized body before Flask runs: the refusal still carries
    the security headers and a request id."""
    response = client.post(WEBHOOK, data=b"x" * (defaults.MAX_BODY_BYTES + 1),
                           headers={"Content-Type": "application/json", "X-Request-Id": "too-big-1"})
    assert response.status_code == 413
    assert response.headers["X-Request-Id"] == "too-big-1"
    for header, value in HEADERS.items():
        assert response.headers[header] == value, header
    assert response.get_json()["error"] == "request_entity_too_large"


def test_an_unhandled_error_is_framed_and_the_id_is_released(app, client, conn, json_log):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    app.extensions["relay"]["intake"].enqueue_once = broken
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = post_delivery(client, created(), extra_headers={"X-Request-Id": "failing-1"})
    assert response.status_code == 500
    assert response.headers["X-Request-Id"] == "failing-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert logs.request_id.get() is None
