import pytest

from shared.relay_config import load_relay_config, match_event_type, parse_relay_config
from shared.settings import ConfigError, Settings
from worker.policy import policy_for


def test_full_example(tmp_path):
    path = tmp_path / "relay.yml"
    path.write_text("""
event_types:
  "https://api.calendly.com/event_types/AAAA":
    templates: {confirm: "1201", followup: null}
    reminder_offsets: [2h, 15m]
    followup_delay: 1h
event_mapping:
  AAAA: 7
field_mapping:
  company: COMPANY
""")
    config = load_relay_config(str(path))
    overrides = config.for_event_type("https://api.calendly.com/event_types/AAAA", "Intro")
    assert overrides.templates == {"confirm": "1201", "followup": None}
    assert [o.total_seconds() for o in overrides.reminder_offsets] == [7200, 900]
    assert config.event_mapping == {"AAAA": 7}
    assert config.field_mapping == {"company": "COMPANY"}


@pytest.mark.parametrize(
    "data, named",
    [
        ({"event_typez": {}}, "event_typez"),
        ({"event_types": {"Intro": {"reminder_offsets": "2x"}}}, "event_types.Intro.reminder_offsets"),
        ({"event_types": {"Intro": {"templates": {"confrim": "1"}}}}, "event_types.Intro.templates"),
        ({"event_types": {"Intro": {"followup_delay": 30}}}, "event_types.Intro.followup_delay"),
        ({"event_mapping": {"Intro": "seven"}}, "event_mapping.Intro"),
        ({"field_mapping": {"company": "company"}}, "field_mapping.company"),
        ([1, 2], "mapping"),
    ],
)
def test_errors_name_the_key(data, named):
    with pytest.raises(ConfigError) as caught:
        parse_relay_config(data)
    assert named in str(caught.value)
    assert "RELAY_CONFIG" in str(caught.value)


def test_unreadable_or_invalid_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_relay_config(str(tmp_path / "missing.yml"))
    bad = tmp_path / "bad.yml"
    bad.write_text("event_types: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_relay_config(str(bad))


def test_settings_load_relay_config_at_start(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("event_types: {Intro: {reminder_offsets: soon}}")
    with pytest.raises(ConfigError, match="reminder_offsets"):
        Settings.from_env({"RELAY_CONFIG": str(bad)})


def test_event_type_matching_by_uri_uuid_or_name():
    table = {"https://api.calendly.com/event_types/AAAA": 1, "BBBB": 2, "Demo Call": 3}
    assert match_event_type(table, "https://api.calendly.com/event_types/AAAA", None) == 1
    assert match_event_type(table, "https://api.calendly.com/event_types/BBBB", "x") == 2
    assert match_event_type(table, None, "demo call") == 3
    assert match_event_type(table, "https://api.calendly.com/event_types/CCCC", "Other") is None


def test_policy_applies_overrides_over_globals():
    settings = Settings.from_env({"TEMPLATE_ID_CONFIRM": "1", "TEMPLATE_ID_REMINDER": "2", "REMINDER_OFFSETS": "24h,1h"})
    plain = policy_for(settings, None, "Other")
    assert plain.template("confirm", "engagelab") == (True, "1")
    assert plain.template("followup", "engagelab") == (False, None)
    assert plain.template("followup", "console") == (True, None)
    overridden = policy_for(Settings(
        templates={"confirm": "1"},
        relay_config=parse_relay_config({"event_types": {"Demo": {"templates": {"confirm": None}}}}),
    ), None, "Demo")
    assert overridden.template("confirm", "console") == (False, None)


@pytest.mark.parametrize("value", ["off", "none", "OFF"])
def test_reminders_can_be_switched_off(value):
    assert Settings.from_env({"REMINDER_OFFSETS": value}).reminder_offsets == ()


def test_followup_can_be_switched_off():
    assert Settings.from_env({"FOLLOWUP_DELAY": "off"}).followup_delay is None


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "latin1.yml"
    path.write_bytes("field_mapping: {société: COMPANY}".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_relay_config(str(path))


def test_huge_durations_in_the_file_are_config_errors():
    with pytest.raises(ConfigError, match="reminder_offsets"):
        parse_relay_config({"event_types": {"X": {"reminder_offsets": "9999999999d"}}})
