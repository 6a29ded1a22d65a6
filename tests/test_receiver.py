"""POST /webhooks/calendly against a real Redis: what is accepted, refused, and enqueued."""

import json
import time

import pytest

from shared import defaults
from shared.calendly import samples
from shared.settings import ConfigError, Settings
from tests.helpers import SIGNING_KEY, WEBHOOK, post_delivery, queued_jobs, signed_headers
from web.app import create_app
from shared.calendly.signature import HEADER


def created_envelope():
    return samples.envelope("invitee.created", samples.invitee_payload())


def test_signed_delivery_is_enqueued_with_its_envelope(client, conn):
    envelope = created_envelope()
    response = post_delivery(client, envelope)
    assert response.status_code == 200
    assert response.get_json()["status"] == "accepted"
    [job] = queued_jobs(conn)
    assert job.func_name == defaults.PROCESS_EVENT_FUNC
    assert job.args[0] == envelope
    assert job.id == f"event-{response.get_json()['delivery']}"


def test_header_name_is_case_insensitive(client, conn):
    raw = samples.body(created_envelope())
    header = signed_headers(raw)[HEADER]
    response = client.post(WEBHOOK, data=raw, headers={"calendly-webhook-signature": header})
    assert response.status_code == 200


def test_trailing_slash_is_served_not_redirected(client, conn):
    raw = samples.body(created_envelope())
    response = client.post(WEBHOOK + "/", data=raw, headers=signed_headers(raw))
    assert response.status_code == 200
    assert len(queued_jobs(conn)) == 1


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({}, "missing_header"),
        ({HEADER: "t=abc"}, "malformed_header"),
        ({HEADER: f"t={int(time.time())},v1={'0' * 64}"}, "no_matching_signature"),
    ],
)
def test_refusals_answer_401_with_the_reason_and_enqueue_nothing(client, conn, headers, reason):
    response = client.post(WEBHOOK, data=samples.body(created_envelope()), headers=headers)
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == reason
    assert body["message"]
    assert queued_jobs(conn) == []


def test_stale_and_future_signatures(client, conn):
    raw = samples.body(created_envelope())
    old = client.post(WEBHOOK, data=raw, headers=signed_headers(raw, timestamp=int(time.time()) - 26 * 3600))
    future = client.post(WEBHOOK, data=raw, headers=signed_headers(raw, timestamp=int(time.time()) + 3600))
    assert (old.status_code, old.get_json()["error"]) == (401, "too_old")
    assert (future.status_code, future.get_json()["error"]) == (401, "from_future")
    assert queued_jobs(conn) == []


def test_refusal_log_has_the_age_but_never_the_key_or_body(client, caplog):
    envelope = created_envelope()
    raw = samples.body(envelope)
    client.post(WEBHOOK, data=raw, headers=signed_headers(raw, timestamp=int(time.time()) - 30 * 3600))
    [record] = [r for r in caplog.records if r.name == "relay.web"]
    assert record.reason == "too_old"
    assert 30 * 3600 - 5 <= record.signature_age <= 30 * 3600 + 5
    text = json.dumps(vars(record), default=str)
    assert SIGNING_KEY not in text
    assert envelope["payload"]["email"] not in text


def test_oversized_body_is_413(client, conn):
    raw = b'{"event":"invitee.created","pad":"' + b"x" * defaults.MAX_BODY_BYTES + b'"}'
    response = client.post(WEBHOOK, data=raw, headers=signed_headers(raw))
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"
    assert queued_jobs(conn) == []


@pytest.mark.parametrize(
    "raw, names",
    [
        (b"not json", "JSON"),
        (b"", "empty"),
        (b"[1, 2]", "object"),
        (b"\xff\xfe", "JSON"),
        (b"[" * 100_000, "JSON"),
        (b'{"payload": {"uri": "https://api.calendly.com/x"}}', "event"),
        (b'{"event": "invitee.created"}', "payload"),
        (b'{"event": "invitee.created", "payload": {}}', "payload.uri"),
        (b'{"event": "invitee.created", "payload": {"uri": 5}}', "payload.uri"),
        (b'{"event": 7, "payload": {"uri": "u"}}', "event"),
        (b'{"event": "invitee.created", "payload": []}', "payload"),
    ],
)
def test_bad_input_is_400_naming_the_problem(client, conn, raw, names):
    response = client.post(WEBHOOK, data=raw, headers=signed_headers(raw))
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_payload"
    assert names in body["message"]
    assert queued_jobs(conn) == []


def test_unsupported_event_is_ignored_with_200(client, conn):
    envelope = {"event": "event_type.created", "created_at": "2026-01-01T00:00:00.000000Z",
                "payload": {"uri": "https://api.calendly.com/event_types/x"}}
    response = post_delivery(client, envelope)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ignored", "event": "event_type.created"}
    assert queued_jobs(conn) == []


def test_redelivery_is_a_duplicate_even_when_re_signed(client, conn):
    envelope = created_envelope()
    first = post_delivery(client, envelope)
    again = post_delivery(client, envelope, timestamp=int(time.time()) - 3600)
    assert first.get_json()["status"] == "accepted"
    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate", "delivery": first.get_json()["delivery"]}
    assert len(queued_jobs(conn)) == 1


def test_same_invitee_different_event_or_time_is_not_a_duplicate(client, conn):
    payload = samples.invitee_payload()
    post_delivery(client, samples.envelope("invitee.created", payload))
    post_delivery(client, samples.envelope("invitee.canceled", samples.canceled(payload)))
    later = samples.envelope("invitee_no_show.created", payload)
    post_delivery(client, later)
    later["created_at"] = "2099-01-01T00:00:00.000000Z"
    post_delivery(client, later)
    assert len(queued_jobs(conn)) == 4


def test_dedupe_record_outlives_the_signature_tolerance(client, conn, settings):
    post_delivery(client, created_envelope())
    [key] = conn.keys("relay:dedupe:*")
    assert conn.ttl(key) > settings.webhook_tolerance


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_get_a_json_405(client, method):
    response = getattr(client, method)(WEBHOOK)
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


def test_unknown_path_is_a_json_404(client):
    response = client.post("/webhooks/calendy")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_web_refuses_to_start_without_a_signing_key(conn):
    with pytest.raises(ConfigError, match="CALENDLY_WEBHOOK_SIGNING_KEY"):
        create_app(Settings(), redis_client=conn)


def test_allow_unsigned_accepts_unsigned_and_warns(conn, caplog):
    app = create_app(Settings(allow_unsigned=True), redis_client=conn)
    assert any("NOT authenticated" in r.getMessage() for r in caplog.records)
    response = app.test_client().post(WEBHOOK, data=samples.body(created_envelope()))
    assert response.status_code == 200
    assert len(queued_jobs(conn)) == 1


def test_a_signing_key_is_enforced_even_when_unsigned_is_allowed(conn):
    app = create_app(Settings(signing_key=SIGNING_KEY, allow_unsigned=True), redis_client=conn)
    response = app.test_client().post(WEBHOOK, data=samples.body(created_envelope()))
    assert response.status_code == 401


@pytest.mark.parametrize("where", ['"created_at":"\\ud800"', '"payload":{"uri":"u","name":"J\\udc00ane"}',
                                   '"payload":{"uri":"u","q":[{"\\ud83d":1}]}'])
def test_a_lone_surrogate_anywhere_is_refused_with_400(client, conn, where):
    # Accepted once, it failed the worker with UnicodeEncodeError on every replay.
    raw = ('{"event":"invitee.created",%s%s}' % (where, "" if "payload" in where else ',"payload":{"uri":"u"}')).encode()
    response = client.post(WEBHOOK, data=raw, headers=signed_headers(raw))
    assert response.status_code == 400, response.get_json()
    assert "surrogate" in response.get_json()["message"]
    assert queued_jobs(conn) == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_bodies_in_other_unicode_encodings_are_refused(client, conn, encoding):
    # json.loads takes them, and their bytes would hide a lone surrogate from the check.
    raw = '{"event":"invitee.created","payload":{"uri":"u","name":"J\\ud800"}}'.encode(encoding)
    response = client.post(WEBHOOK, data=raw, headers=signed_headers(raw))
    assert response.status_code == 400 and "UTF-8" in response.get_json()["message"]
    assert queued_jobs(conn) == []


def test_a_surrogate_pair_is_an_ordinary_character(client, conn):
    raw = b'{"event":"invitee.created","payload":{"uri":"https://api.calendly.com/x","name":"\\ud83d\\ude00"}}'
    assert client.post(WEBHOOK, data=raw, headers=signed_headers(raw)).status_code == 200


@pytest.mark.parametrize("depth", [defaults.MAX_JSON_DEPTH + 1, 900])
def test_nesting_beyond_the_documented_depth_is_400(client, conn, depth):
    # 900 levels parse, but used to fail with a 500 when the job was pickled.
    raw = b'{"event":"invitee.created","payload":{"uri":"u","x":' + b"[" * (depth - 2) + b"]" * (depth - 2) + b"}}"
    response = client.post(WEBHOOK, data=raw, headers=signed_headers(raw))
    assert response.status_code == 400
    assert f"deeper than {defaults.MAX_JSON_DEPTH} levels" in response.get_json()["message"]
    assert queued_jobs(conn) == []


def test_nesting_at_the_documented_depth_is_accepted(client, conn):
    depth = defaults.MAX_JSON_DEPTH
    raw = b'{"event":"invitee.created","payload":{"uri":"u","x":' + b"[" * (depth - 2) + b"]" * (depth - 2) + b"}}"
    assert client.post(WEBHOOK, data=raw, headers=signed_headers(raw)).status_code == 200
