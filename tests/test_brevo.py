"""The Brevo backend against `responses`: upsert, events, attribute setup, error classes."""

import json

import pytest
import requests
import responses

from worker.crm.base import ContactUpdate
from worker.crm.brevo import BrevoClient, BrevoCrmBackend, setup_attributes
from worker.crm.fields import effective_mapping
from worker.provider_errors import PermanentError, TransientError

API = "https://brevo.test.invalid/v3"
STATUS_ATTRIBUTE = {"name": "BOOKING_STATUS", "category": "category", "type": "category",
                    "enumeration": [{"value": 1, "label": "booked"}, {"value": 2, "label": "cancelled"},
                                    {"value": 3, "label": "rescheduled"}, {"value": 4, "label": "no_show"}]}
UPDATE = ContactUpdate(
    key="crm|booked|u|t", kind="contact", event="calendly_booked",
    contact={"email": "jane.doe@example.com", "name": "Jane Doe", "phone": "+14045551234", "status": "booked",
             "event_type_name": "30 Minute Meeting", "scheduled_at": "2026-11-24T20:00:00+00:00",
             "timezone": "America/New_York", "join_url": "https://meet.example/x",
             "answers": [["Company", "Acme"]], "lists": [7], "changed_at": "2026-11-23T10:00:00+00:00"},
)


@pytest.fixture
def backend():
    return BrevoCrmBackend(BrevoClient(API, "brevo-key"), effective_mapping(None), "UTC")


def attributes_listed(*extra):
    responses.get(f"{API}/contacts/attributes", json={"attributes": [STATUS_ATTRIBUTE, *extra]})


@responses.activate
def test_upsert_request(backend):
    attributes_listed()
    responses.post(f"{API}/contacts", status=201, json={"id": 42})
    backend.upsert(UPDATE)
    call = responses.calls[-1]
    assert call.request.headers["api-key"] == "brevo-key"
    body = json.loads(call.request.body)
    assert body["email"] == "jane.doe@example.com" and body["updateEnabled"] is True
    assert body["listIds"] == [7]
    assert body["attributes"]["BOOKING_STATUS"] == 1  # the category's option id, not its label
    assert body["attributes"]["SMS"] == "+14045551234"
    assert body["attributes"]["MEETING_DATE"] == "2026-11-24"


@responses.activate
def test_update_of_an_existing_contact_is_a_204(backend):
    attributes_listed()
    responses.post(f"{API}/contacts", status=204)
    backend.upsert(UPDATE)


@responses.activate
def test_status_stays_a_label_for_a_text_attribute(backend):
    responses.get(f"{API}/contacts/attributes", json={"attributes": [
        {"name": "BOOKING_STATUS", "category": "normal", "type": "text"}]})
    responses.post(f"{API}/contacts", status=204)
    backend.upsert(UPDATE)
    assert json.loads(responses.calls[-1].request.body)["attributes"]["BOOKING_STATUS"] == "booked"


@responses.activate
def test_event_request(backend):
    responses.post(f"{API}/events", status=204)
    backend.record_event(UPDATE)
    body = json.loads(responses.calls[-1].request.body)
    assert body == {"event_name": "calendly_booked", "identifiers": {"email_id": "jane.doe@example.com"},
                    "event_properties": {"start_time": "2026-11-24T20:00:00+00:00",
                                         "event_type": "30 Minute Meeting", "join_url": "https://meet.example/x"},
                    "event_date": "2026-11-23T10:00:00+00:00"}


@responses.activate
def test_sms_owned_by_another_contact_is_dropped_and_the_upsert_repeated(backend, caplog):
    attributes_listed()
    responses.post(f"{API}/contacts", status=400, json={
        "code": "duplicate_parameter", "message": "SMS is already associated with another Contact",
        "metadata": {"duplicate_identifiers": ["SMS"]}})
    responses.post(f"{API}/contacts", status=204)
    backend.upsert(UPDATE)
    first, second = [json.loads(c.request.body) for c in responses.calls if c.request.method == "POST"]
    assert "SMS" in first["attributes"] and "SMS" not in second["attributes"]
    [warning] = [r for r in caplog.records if r.name == "relay.crm.brevo"]
    assert "another Brevo contact" in warning.getMessage()
    assert "jane.doe@" not in json.dumps(vars(warning), default=str)


@responses.activate
def test_sms_number_brevo_calls_invalid_is_dropped_and_the_upsert_repeated(backend, caplog):
    # Brevo refuses some numbers that phonenumbers accepts; the contact still gets synced.
    attributes_listed()
    responses.post(f"{API}/contacts", status=400, json={"code": "invalid_parameter", "message": "Invalid phone number"})
    responses.post(f"{API}/contacts", status=204)
    backend.upsert(UPDATE)
    first, second = [json.loads(c.request.body) for c in responses.calls if c.request.method == "POST"]
    assert "SMS" in first["attributes"] and "SMS" not in second["attributes"]
    assert second["attributes"]["BOOKING_STATUS"] == first["attributes"]["BOOKING_STATUS"]
    [warning] = [r for r in caplog.records if r.name == "relay.crm.brevo"]
    assert warning.sms_refusal == "invalid" and "refused the SMS number as invalid" in warning.getMessage()


@responses.activate
def test_other_invalid_parameters_still_fail(backend):
    attributes_listed()
    responses.post(f"{API}/contacts", status=400, json={"code": "invalid_parameter", "message": "Invalid email"})
    with pytest.raises(PermanentError, match="Invalid email"):
        backend.upsert(UPDATE)
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1


@responses.activate
def test_rate_limit_waits_for_the_reset_header(backend):
    responses.post(f"{API}/events", status=429, json={"code": "too_many_requests", "message": "slow down"},
                   headers={"x-sib-ratelimit-limit": "10", "x-sib-ratelimit-remaining": "0",
                            "x-sib-ratelimit-reset": "37"})
    with pytest.raises(TransientError) as caught:
        backend.record_event(UPDATE)
    assert caught.value.retry_after >= 37


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 503, 425])
def test_server_errors_are_transient(backend, status):
    responses.post(f"{API}/events", status=status, body="upstream")
    with pytest.raises(TransientError):
        backend.record_event(UPDATE)


@responses.activate
def test_timeouts_are_transient(backend):
    responses.post(f"{API}/events", body=requests.ReadTimeout("slow"))
    with pytest.raises(TransientError, match="timeout"):
        backend.record_event(UPDATE)


@responses.activate
@pytest.mark.parametrize("status, code", [(400, "invalid_parameter"), (401, "unauthorized"),
                                          (402, "not_enough_credits"), (403, "permission_denied"),
                                          (404, "document_not_found")])
def test_other_4xx_fail_at_once_with_code_and_message(backend, status, code):
    attributes_listed()
    responses.post(f"{API}/contacts", status=status, json={"code": code, "message": f"because {code}"})
    with pytest.raises(PermanentError) as caught:
        backend.upsert(UPDATE)
    assert caught.value.code == code and f"because {code}" in str(caught.value)


@responses.activate
def test_duplicate_request_counts_as_done(backend):
    responses.post(f"{API}/events", status=400, json={"code": "duplicate_request", "message": "already processed"})
    backend.record_event(UPDATE)


@responses.activate
def test_setup_creates_what_is_missing_with_the_right_types():
    client = BrevoClient(API, "brevo-key")
    responses.get(f"{API}/contacts/attributes", json={"attributes": [
        {"name": "FIRSTNAME", "category": "normal", "type": "text"},
        {"name": "SMS", "category": "normal", "type": "text"},
        {"name": "BOOKING_STATUS", "category": "category", "type": "category",
         "enumeration": [{"value": 1, "label": "booked"}, {"value": 2, "label": "cancelled"}]}]})
    for name in ("COMPANY", "JOB_TITLE", "CALENDLY_EVENT_TYPE", "MEETING_DATE", "REBOOK_URL", "RECONFIRMED_AT"):
        responses.post(f"{API}/contacts/attributes/normal/{name}", status=201)
    responses.put(f"{API}/contacts/attributes/category/BOOKING_STATUS", status=204)
    done = setup_attributes(client, effective_mapping(None))
    created = {c.request.url.rsplit("/", 1)[-1]: json.loads(c.request.body)
               for c in responses.calls if c.request.method == "POST"}
    assert created == {"COMPANY": {"type": "text"}, "JOB_TITLE": {"type": "text"},
                       "CALENDLY_EVENT_TYPE": {"type": "text"}, "MEETING_DATE": {"type": "date"},
                       "REBOOK_URL": {"type": "text"}, "RECONFIRMED_AT": {"type": "date"}}
    [put] = [c for c in responses.calls if c.request.method == "PUT"]
    assert json.loads(put.request.body)["enumeration"][2:] == [{"value": 3, "label": "rescheduled"},
                                                              {"value": 4, "label": "no_show"}]
    assert "kept FIRSTNAME (text)" in done
