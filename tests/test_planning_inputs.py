"""What replanning fingerprints: every setting that changes how reminders are planned or rendered."""

import json

from shared.relay_config import parse_relay_config
from shared.settings import Settings
from worker.planning_inputs import planning_inputs


def test_planning_inputs_are_plain_json_and_name_every_planning_setting():
    settings = Settings.from_env({"TEMPLATE_ID_REMINDER": "7", "QUIET_HOURS": "22:00-07:00",
                                  "LOCALE_BY_COUNTRY": "FR=fr_FR", "HOST_QUIET_HOURS": "23:00-06:00",
                                  "SMS_COUNTRIES": "us,GB"})
    inputs = planning_inputs(settings)
    assert json.loads(json.dumps(inputs)) == inputs
    assert inputs["quiet_hours"] == "22:00-07:00" and inputs["host_quiet_hours"] == "23:00-06:00"
    assert inputs["reminder_offsets"] == [86400, 3600] and inputs["followup_delay"] == 1800
    assert inputs["locale_by_country"] == {"FR": "fr_FR"} and inputs["templates"] == {"reminder": "7"}
    assert inputs["quiet_hours_apply_to"] == ["followup", "reminder"] and inputs["quiet_min_lead"] == 900
    assert inputs["sms_countries"] == ["GB", "US"]  # planning leaves out numbers no longer allowed


def test_planning_inputs_change_with_an_event_types_settings_and_not_otherwise():
    base = Settings()
    demo = Settings(relay_config=parse_relay_config({
        "templates": {"reminder": {"default": "1", "fr": "2"}},
        "event_types": {"Demo": {"quiet_hours": "off", "locale": "de_DE", "reminder_offsets": "2h"}}}))
    assert planning_inputs(base) == planning_inputs(Settings())
    changed = planning_inputs(demo)
    assert changed != planning_inputs(base)
    assert changed["event_types"]["Demo"] == {"templates": {}, "reminder_offsets": [7200], "followup_delay": "inherit",
                                              "quiet_hours": None, "locale": "de_DE"}
    assert changed["relay_templates"] == {"reminder": {"default": "1", "fr": "2"}}
