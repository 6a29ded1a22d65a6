"""POST /webhooks/engagelab against a real Redis: enabled or not, the probe, every refusal,
the durable enqueue, its dedupe, and Redis down."""

import json
import logging
import time

import pytest
from rq import Queue

from shared import defaults, engagelab_samples, stats
from shared.engagelab_callback import HEADER, generate_header
from shared.settings import CallbackSettings, Settings
from shared.redis_conn import connect
from tests.helpers import SIGNING_KEY, free_port
from web.app import create_app

URL = "/webhooks/engagelab"
SECRET, USER, AUTHORIZATION = "cb-secret-4f9a1c", "relay-user", "Bearer cb-token-77"
PHONE = "+14045551234"


def make_client(conn, **callbacks):
    settings = Settings(signing_key=SIGNING_KEY, callbacks=CallbackSettings(**callbacks),
                        secrets=(SIGNING_KEY, *(v for k, v in callbacks.items() if k != "username")))
    return create_app(settings, redis_client=conn).test_client()


@pytest.fixture
def signed(conn):
    return make_client(conn, username=USER, secret=SECRET)


def body(*rows):
    return engagelab_samples.body(list(rows) or [engagelab_samples.status_row("m-1", "delivered", to=PHONE)])


def signed_headers(**options):
    return {"Content-Type": "application/json", HEADER: generate_header(SECRET, USER, **options)}


def queued(conn):
    return Queue(defaults.CALLBACKS_QUEUE, connection=conn).get_jobs()


def test_disabled_answers_404_saying_how_to_enable(conn):
    client = make_client(conn)
    response = client.post(URL, data=body(), headers=signed_headers())
    assert response.status_code == 404
    answer = response.get_json()
    assert answer["error"] == "callbacks_not_enabled"
    assert "ENGAGELAB_CALLBACK_SECRET" in answer["message"] and "ENGAGELAB_CALLBACK_AUTHORIZATION" in answer["message"]
    assert queued(conn) == []


@pytest.mark.parametrize("headers", [{}, {HEADER: "nonsense"}, None])
@pytest.mark.parametrize("raw", [b"{}", b"", b" { } "])
def test_the_probe_gets_200_at_once_with_or_without_header(signed, conn, headers, raw):
    response = signed.post(URL, data=raw, headers=signed_headers() if headers is None else headers)
    assert response.status_code == 200
    assert response.data == b""
    assert queued(conn) == []


def test_a_signed_body_is_enqueued_for_the_worker(signed, conn):
    raw = body()
    response = signed.post(URL, data=raw, headers=signed_headers())
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["status"] == "accepted"
    [job] = queued(conn)
    assert job.func_name == defaults.PROCESS_CALLBACK_FUNC
    assert job.args == (json.loads(raw),)
    assert job.id == f"callback-{answer['callback']}"
    assert PHONE not in job.description
    assert defaults.CALLBACKS_QUEUE in defaults.WORKER_QUEUES


def test_the_same_body_again_is_a_duplicate(signed, conn):
    raw = body()
    first = signed.post(URL, data=raw, headers=signed_headers())
    again = signed.post(URL, data=raw, headers=signed_headers())
    assert (first.get_json()["status"], again.get_json()["status"]) == ("accepted", "duplicate")
    assert first.get_json()["callback"] == again.get_json()["callback"]
    assert len(queued(conn)) == 1
    assert stats.read(conn, "engagelab_callbacks") == {("accepted",): 1, ("duplicate",): 1}


@pytest.mark.parametrize("headers, reason", [
    ({}, "missing_header"),
    ({HEADER: "timestamp=1;nonce=2"}, "malformed_header"),
    ({HEADER: generate_header(SECRET, "intruder")}, "wrong_username"),
    ({HEADER: generate_header("not-the-secret", USER)}, "bad_signature"),
    ({HEADER: generate_header(SECRET, USER, timestamp=int(time.time()) - 400)}, "timestamp_outside_tolerance"),
    ({HEADER: generate_header(SECRET, USER, timestamp=int(time.time()) + 400)}, "timestamp_outside_tolerance"),
])
def test_signature_refusals_answer_401_naming_the_reason(signed, conn, headers, reason, caplog):
    caplog.set_level(logging.INFO)
    response = signed.post(URL, data=body(), headers=headers)
    assert response.status_code == 401
    answer = response.get_json()
    assert answer["error"] == reason and answer["message"]
    assert queued(conn) == []
    assert stats.read(conn, "engagelab_callbacks") == {(f"refused_{reason}",): 1}
    logged = " ".join(json.dumps(vars(record), default=str) for record in caplog.records)
    assert SECRET not in logged and PHONE not in logged


def test_a_reused_nonce_is_refused_even_with_another_body(signed, conn):
    header = signed_headers(nonce="123456")
    first = signed.post(URL, data=body(), headers=header)
    replay = signed.post(URL, data=body(engagelab_samples.status_row("m-2", "delivered")), headers=header)
    assert first.status_code == 200
    assert (replay.status_code, replay.get_json()["error"]) == (401, "reused_nonce")
    assert len(queued(conn)) == 1
    ttl = conn.ttl(next(iter(conn.scan_iter("relay:engagelab:nonce:*"))))
    assert 300 < ttl <= 600  # twice the tolerance: as long as the timestamp could pass


@pytest.fixture
def authorized(conn):
    return make_client(conn, authorization=AUTHORIZATION)


@pytest.mark.parametrize("value", [None, "Bearer wrong", "cb-token-77"])
def test_with_an_authorization_the_header_must_match(authorized, conn, value):
    headers = {"Content-Type": "application/json", **({"Authorization": value} if value else {})}
    response = authorized.post(URL, data=body(), headers=headers)
    assert (response.status_code, response.get_json()["error"]) == (401, "wrong_authorization")
    assert queued(conn) == []


def test_with_an_authorization_alone_no_signature_is_needed(authorized, conn):
    response = authorized.post(URL, data=body(), headers={"Authorization": AUTHORIZATION})
    assert (response.status_code, response.get_json()["status"]) == (200, "accepted")


def test_with_both_both_are_checked(conn):
    client = make_client(conn, username=USER, secret=SECRET, authorization=AUTHORIZATION)
    unsigned = client.post(URL, data=body(), headers={"Authorization": AUTHORIZATION})
    unauthorized = client.post(URL, data=body(), headers=signed_headers())
    both = client.post(URL, data=body(), headers={"Authorization": AUTHORIZATION, **signed_headers()})
    assert unsigned.get_json()["error"] == "missing_header"
    assert unauthorized.get_json()["error"] == "wrong_authorization"
    assert both.status_code == 200


@pytest.mark.parametrize("raw, message", [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"total": 1}', "rows"),
    (b'{"rows": "x"}', "rows"),
    (b'{"rows": [1]}', "every row"),
    (b'{"rows": ["\\ud800"]}', "surrogate"),
    (b"[" * 40 + b"]" * 40, "deeper"),
])
def test_a_body_that_is_not_a_callback_is_400(signed, conn, raw, message):
    response = signed.post(URL, data=raw, headers=signed_headers())
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "invalid_payload" and message in answer["message"]
    assert queued(conn) == []


def test_an_unsigned_bad_body_is_refused_for_the_signature_first(signed):
    response = signed.post(URL, data=b"not json")
    assert (response.status_code, response.get_json()["error"]) == (401, "missing_header")


def test_too_large_is_413(signed):
    raw = body(*[engagelab_samples.status_row(f"m-{i}", "delivered", to=PHONE) for i in range(2000)])
    assert len(raw) > defaults.MAX_BODY_BYTES
    response = signed.post(URL, data=raw, headers=signed_headers())
    assert (response.status_code, response.get_json()["error"]) == (413, "request_entity_too_large")


def test_trailing_slash_is_served(signed, conn):
    assert signed.post(URL + "/", data=body(), headers=signed_headers()).status_code == 200


def test_redis_down_answers_503_so_engagelab_retries():
    client = make_client(connect(f"redis://127.0.0.1:{free_port()}/0", fail_fast=True), username=USER, secret=SECRET)
    started = time.monotonic()
    response = client.post(URL, data=body(), headers=signed_headers())
    assert (response.status_code, response.get_json()["error"]) == (503, "redis_unavailable")
    assert time.monotonic() - started < 2
    probe = client.post(URL, data=b"{}")
    assert probe.status_code == 200  # the probe never needs Redis
