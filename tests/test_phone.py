import pytest

from shared.phone import find_invitee_phone, normalize


@pytest.mark.parametrize(
    "raw, e164",
    [
        ("+1 404-555-1234", "+14045551234"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+91 98765 43210", "+919876543210"),
        ("+358 40 1234567", "+358401234567"),
    ],
)
def test_normalize_to_e164(raw, e164):
    assert normalize(raw) == e164


@pytest.mark.parametrize("raw", [None, "", "404-555-1234", "+1 404", "call me", "+999 123456789", "+" + "1" * 50])
def test_unusable_numbers(raw):
    assert normalize(raw) is None


def test_text_reminder_number_comes_first():
    found = find_invitee_phone("+1 404-555-1234", (("Phone", "+44 20 7946 0958"),), "outbound_call", "+358 40 1234567")
    assert (found.e164, found.source) == ("+14045551234", "text_reminder_number")


def test_phone_answer_then_outbound_call():
    answers = (("Company", "Acme"), ("Your mobile number", "+44 20 7946 0958"))
    assert find_invitee_phone(None, answers, None, None).e164 == "+442079460958"
    found = find_invitee_phone(None, (("Company", "Acme"),), "outbound_call", "+358 40 1234567")
    assert (found.e164, found.source) == ("+358401234567", "outbound_call")


def test_an_invalid_first_choice_falls_through_to_a_valid_one():
    found = find_invitee_phone("12", (("Phone", "+44 20 7946 0958"),), None, None)
    assert found.e164 == "+442079460958"


def test_a_physical_location_is_not_a_phone():
    assert find_invitee_phone(None, (), "physical", "+1 404-555-1234").reason == "no_phone"


def test_reasons():
    assert find_invitee_phone(None, (), None, None).reason == "no_phone"
    invalid = find_invitee_phone("555-1234", (), None, None)
    assert (invalid.e164, invalid.reason) == (None, "invalid_phone")


def test_a_number_is_parsed_once_for_all_who_ask_about_it(monkeypatch):
    """The opt-out lookup, the toll fraud guard and the time zone all read the same E.164
    number: libphonenumber parses it once (shared.phone.parsed), not once for each."""
    import phonenumbers

    from shared import phone
    from shared.optouts import canonical
    from shared.settings import Settings
    from worker import quiet_hours, toll_fraud

    parses = []
    real = phonenumbers.parse
    monkeypatch.setattr(phonenumbers, "parse", lambda *args: parses.append(args[0]) or real(*args))
    for cached in (phone.parsed, phone.normalize, toll_fraud._region_and_kind):
        cached.cache_clear()
    assert canonical("+14045559876") == "+14045559876"
    assert toll_fraud.refusal("+14045559876", Settings()) is None
    assert quiet_hours.phone_zone("+14045559876") == "America/New_York"
    assert parses == ["+14045559876"]
    assert phone.parsed("call me") is None and phone.normalize("+1 404") is None  # parsed, not valid
