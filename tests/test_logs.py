import io
import json
import logging

from shared.logs import JsonFormatter, mask_email, mask_phone, scrub


def test_masks():
    assert mask_phone("+14045551234") == "+1404*****34"
    assert mask_email("jane.doe@example.com") == "j***@example.com"
    assert mask_phone(None) is None and mask_email("") == ""


def test_scrub_catches_what_slipped_through_but_keeps_dates():
    text = scrub("call +1 404-555-1234 or mail jane.doe@example.com on 2026-11-24 key s3cr3t-k3y", ["s3cr3t-k3y"])
    assert "404-555-1234" not in text and "jane.doe@" not in text and "s3cr3t-k3y" not in text
    assert "2026-11-24" in text


def test_a_few_letters_are_no_secret_to_scrub():
    # A one-letter test credential once turned every "s" of the worker's log into "[secret]".
    assert scrub("worker starting on queues sms, events", ["s", "sms"]) == "worker starting on queues sms, events"


def logged(name: str, secrets: list[str], *args, **kwargs) -> dict:
    """The JSON entry of one warning logged on ``name`` through the JsonFormatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(secrets=secrets))
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(*args, **kwargs)
    finally:
        logger.removeHandler(handler)
    return json.loads(stream.getvalue())


def test_json_line_with_fields_and_scrubbing():
    entry = logged("test.logs", ["topsecret"], "sent to %s", "+14045551234",
                   extra={"email": "jane.doe@example.com", "key": "topsecret"})
    assert entry["level"] == "warning" and entry["logger"] == "test.logs"
    assert entry["msg"] == "sent to +1404*****34"
    assert entry["email"] == "j***@example.com"
    assert entry["key"] == "[secret]"


def test_non_ascii_addresses_and_secrets_are_masked_and_the_line_stays_json():
    entry = logged("test.logs.unicode", ['s"é\\cret'], "from jöhn.doe@exämple.com",
                   extra={"detail": {"key": 's"é\\cret', "n": 3}})
    assert entry["msg"] == "from j***@exämple.com"
    assert entry["detail"] == {"key": "[secret]", "n": 3}
