from worker.crm.fields import DEFAULT_FIELD_MAPPING, attribute_types, contact_attributes, effective_mapping

CONTACT = {
    "email": "jane.doe@example.com", "name": "Jane Doe", "phone": "+14045551234", "status": "booked",
    "event_type_name": "30 Minute Meeting", "scheduled_at": "2026-11-25T03:30:00+00:00",
    "timezone": "America/New_York", "join_url": "https://meet.example/x",
    "answers": [["Company", "Acme Inc."], ["ROLE?", "CTO"], ["Budget", "  "]],
}


def test_default_mapping():
    attributes = contact_attributes(CONTACT, effective_mapping(None), "UTC")
    assert attributes == {
        "FIRSTNAME": "Jane Doe", "COMPANY": "Acme Inc.", "JOB_TITLE": "CTO", "SMS": "+14045551234",
        "CALENDLY_EVENT_TYPE": "30 Minute Meeting", "MEETING_DATE": "2026-11-24", "BOOKING_STATUS": "booked",
    }


def test_configured_mapping_merges_over_the_default_and_null_removes():
    mapping = effective_mapping({"Budget": "BUDGET", "role": None, "Timezone": "TZ", "email": "EMAIL"})
    assert "role" not in mapping and mapping["budget"] == "BUDGET" and mapping["timezone"] == "TZ"
    assert "email" not in mapping  # the identifier, never an attribute
    attributes = contact_attributes(CONTACT, mapping, "UTC")
    assert "JOB_TITLE" not in attributes and "BUDGET" not in attributes  # blank answers are not written
    assert attributes["TZ"] == "America/New_York"


def test_sms_is_only_ever_e164():
    contact = dict(CONTACT, phone=None, answers=[["Mobile", "+44 20 7946 0958"], ["Phone", "call me"]])
    assert contact_attributes(contact, {"mobile": "SMS"}, "UTC") == {"SMS": "+442079460958"}
    assert contact_attributes(contact, {"phone": "SMS"}, "UTC") == {}
    contact = dict(CONTACT, phone="12")
    assert "SMS" not in contact_attributes(contact, {"phone": "SMS"}, "UTC")


def test_attribute_types_for_setup():
    assert attribute_types(DEFAULT_FIELD_MAPPING) == {
        "FIRSTNAME": "text", "COMPANY": "text", "JOB_TITLE": "text", "CALENDLY_EVENT_TYPE": "text",
        "MEETING_DATE": "date", "BOOKING_STATUS": "category", "REBOOK_URL": "text", "RECONFIRMED_AT": "date",
    }
