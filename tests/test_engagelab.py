"""The EngageLab backend against `responses`: the request, and every answer class."""

import base64
import json

import pytest
import requests
import responses

from shared import ledger

from worker.provider_errors import PermanentError, TransientError
from worker.sms.base import OutboundSms
from worker.sms.engagelab import EngageLabSmsBackend

API = "https://sms.test.invalid"
URL = f"{API}/v1/messages"
MESSAGE = OutboundSms(key="sms|confirm|invitee|u1", kind="confirm", to="+14045551234",
                      params={"name": "Jane", "time": "Tue, Nov 24, 2026, 3:00 PM EST"}, template_id="1201")
OK = {"plan_id": "1972488990548348928", "total_count": 1, "accepted_count": 1, "message_id": "1972488990804201472"}


@pytest.fixture
def backend():
    return EngageLabSmsBackend(API + "/", "dev-key", "dev-secret")


@responses.activate
def test_request_shape_and_success(backend):
    responses.post(URL, json=OK)
    assert backend.send(MESSAGE) == "1972488990804201472"
    [call] = responses.calls
    body = json.loads(call.request.body)
    assert body["to"] == ["+14045551234"]
    assert body["template"] == {"id": "1201", "params": MESSAGE.params}
    assert body["custom_args"] == {"relay_message": ledger.message_id(MESSAGE.key), "kind": MESSAGE.kind}
    assert "+14045551234" not in json.dumps(body["custom_args"])
    expected = "Basic " + base64.b64encode(b"dev-key:dev-secret").decode()
    assert call.request.headers["Authorization"] == expected


@responses.activate
@pytest.mark.parametrize("code", [1000, 5001, 5016])
def test_transient_codes_in_a_200(backend, code):
    responses.post(URL, json={"code": code, "message": "internal"}, status=200)
    with pytest.raises(TransientError) as caught:
        backend.send(MESSAGE)
    assert caught.value.code == code


@responses.activate
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_http_statuses(backend, status):
    responses.post(URL, json={"code": None, "message": "busy"}, status=status, headers={"Retry-After": "120"})
    with pytest.raises(TransientError) as caught:
        backend.send(MESSAGE)
    assert caught.value.status == status
    assert caught.value.retry_after == 120


@responses.activate
def test_unreadable_gateway_error_is_transient(backend):
    responses.post(URL, body="<html>bad gateway</html>", status=502)
    with pytest.raises(TransientError):
        backend.send(MESSAGE)


@responses.activate
def test_frequency_limit_retries_much_later(backend):
    responses.post(URL, json={"code": 3004, "message": "frequency limit"}, status=400)
    with pytest.raises(TransientError) as caught:
        backend.send(MESSAGE)
    assert caught.value.retry_after >= 3600


@responses.activate
@pytest.mark.parametrize(
    "status, code",
    [(401, 2001), (401, 2002), (403, 2004), (400, 3001), (400, 3002), (400, 3003), (400, 4001), (200, 4001),
     (200, 5011), (200, 5013), (200, 5019), (400, 9999)],
)
def test_permanent_failures_carry_code_and_message(backend, status, code):
    responses.post(URL, json={"code": code, "message": f"reason {code}"}, status=status)
    with pytest.raises(PermanentError) as caught:
        backend.send(MESSAGE)
    assert caught.value.code == code
    assert f"reason {code}" in str(caught.value)


@responses.activate
def test_timeout_is_transient(backend):
    responses.post(URL, body=requests.ReadTimeout("slow"))
    with pytest.raises(TransientError, match="timeout"):
        backend.send(MESSAGE)


@responses.activate
def test_connection_error_is_transient(backend):
    responses.post(URL, body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError, match="network"):
        backend.send(MESSAGE)


@pytest.mark.parametrize("answer, reason", [
    ({"plan_id": "1972", "total_count": 1, "accepted_count": 0, "message_id": "1973"}, "accepted_count 0"),
    ({"plan_id": "1972", "total_count": 1, "accepted_count": 0}, "accepted_count 0"),
    ({"plan_id": "1972", "total_count": 1, "accepted_count": 1}, "without a message id"),
    ({}, "without a message id"),
])
@responses.activate
def test_a_200_that_sent_nothing_is_a_permanent_failure_not_a_send(backend, answer, reason):
    responses.post(URL, json=answer)
    with pytest.raises(PermanentError, match=reason):
        backend.send(MESSAGE)


def test_every_request_has_connect_and_read_timeouts(backend, monkeypatch):
    seen = {}

    def fake_send(adapter, request, **kwargs):
        seen.update(kwargs)
        raise requests.ConnectTimeout("x")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake_send)
    with pytest.raises(TransientError):
        backend.send(MESSAGE)
    connect, read = seen["timeout"]
    assert 0 < connect <= 10 and 0 < read <= 30


def test_a_message_without_template_fails_permanently(backend):
    with pytest.raises(PermanentError, match="template"):
        backend.send(OutboundSms(key="k", kind="confirm", to="+14045551234", params={}))


def test_a_send_engagelab_did_not_take_fails_its_job_and_is_not_marked_sent(client, conn, monkeypatch):
    from shared import keys
    from shared.calendly import samples
    from shared.operations import failures
    from tests.fakes import FakeEngageLab
    from tests.helpers import post_delivery, run_jobs

    with FakeEngageLab() as fake:
        for name, value in {"SMS_BACKEND": "engagelab", "ENGAGELAB_DEV_KEY": "k", "ENGAGELAB_DEV_SECRET": "s",
                            "ENGAGELAB_API_URL": fake.url, "TEMPLATE_ID_CONFIRM": "101",
                            "REMINDER_OFFSETS": "off", "FOLLOWUP_DELAY": "off"}.items():
            monkeypatch.setenv(name, value)
        fake.answer("/v1/messages", 200, {"plan_id": "1972", "total_count": 1, "accepted_count": 0})
        payload = samples.invitee_payload()
        post_delivery(client, samples.envelope("invitee.created", payload))
        run_jobs(conn)
    [failure] = failures(conn)
    assert failure.func == "send_sms" and "accepted_count 0" in failure.reason
    # Not recorded as sent, and the claim released: a replay can send it.
    assert not conn.exists(keys.sent(f"sms|confirm|invitee|{payload['uri']}"))
