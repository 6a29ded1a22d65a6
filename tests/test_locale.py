"""A language per invitee: the locale (event type, then phone's country, then LOCALE), the
template per locale (most specific key, event type before top level before TEMPLATE_ID_*),
times and leads in that locale and in GSM-7, and ``relay config check``'s listing."""

from datetime import datetime, timedelta, timezone

import pytest

from shared.booking import BookingRecord
from shared.calendly import samples
from shared.errors import ConfigError
from shared.locales import fallbacks, gsm_text, pick
from shared.phone import normalize
from shared.relay_config import parse_relay_config
from shared.settings import Settings
from shared.vocabulary import BookingStatus, Recipient, SmsKind
from tests.helpers import console_messages
from tests.test_reminders import apply, fire, scheduled
from worker.messages import render
from worker.policy import policy_for

GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")
"""GSM 03.38's basic character set (3GPP TS 23.038, 6.2.1)."""
START = datetime(2026, 12, 3, 14, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("locale, keys", [
    ("fr_CA", ("fr_CA", "fr", "default")),
    ("fr", ("fr", "default")),
    ("pt_BR", ("pt_BR", "pt", "default")),
    ("zh_Hant_TW", ("zh_Hant_TW", "zh_Hant", "zh", "default")),
])
def test_the_most_specific_key_comes_first(locale, keys):
    assert fallbacks(locale) == keys


@pytest.mark.parametrize("choices, locale, picked", [
    ({"default": "1", "fr": "2", "fr_CA": "3"}, "fr_CA", (True, "3", "fr_CA")),
    ({"default": "1", "fr": "2", "fr_CA": "3"}, "fr_FR", (True, "2", "fr")),
    ({"default": "1", "fr": "2", "fr_CA": "3"}, "de_DE", (True, "1", "default")),
    ({"fr": "2"}, "de_DE", (False, None, None)),
    ({"default": None, "fr": "2"}, "en_US", (True, None, "default")),
])
def test_a_template_mapping_picks_by_locale(choices, locale, picked):
    assert pick(choices, locale) == picked


CONFIG = {
    "templates": {"reminder": {"default": "R", "fr": "R-fr"}, "confirm": "C-top", "followup": {"fr": "F-fr"}},
    "event_types": {"Demo": {"templates": {"reminder": {"fr_CA": "R-demo-ca"}, "confirm": {"de": "C-demo-de"},
                                           "followup": None}}},
}


@pytest.mark.parametrize("event_type, kind, locale, chosen", [
    ("Other", "reminder", "fr_FR", (True, "R-fr")),            # top level, by language
    ("Other", "reminder", "en_US", (True, "R")),               # top level default
    ("Demo", "reminder", "fr_CA", (True, "R-demo-ca")),        # the event type's, most specific
    ("Demo", "reminder", "fr_FR", (True, "R-fr")),             # the event type has no fr: the top level's
    ("Demo", "confirm", "de_DE", (True, "C-demo-de")),
    ("Demo", "confirm", "en_US", (True, "C-top")),             # a plain id serves every locale
    ("Other", "followup", "en_US", (True, "F-env")),           # no fitting key: TEMPLATE_ID_FOLLOWUP
    ("Demo", "followup", "fr_FR", (False, None)),              # null for the event type: disabled
    ("Other", "cancel", "fr_FR", (False, None)),               # nothing anywhere (engagelab)
])
def test_templates_event_type_then_top_level_then_variables(event_type, kind, locale, chosen):
    settings = Settings(templates={"followup": "F-env"}, relay_config=parse_relay_config(CONFIG))
    assert policy_for(settings, None, event_type).template(kind, "engagelab", locale) == chosen


@pytest.mark.parametrize("phone, by_country, event_locale, locale", [
    ("+33 6 12 34 56 78", "FR=fr_FR,DE=de_DE", None, "fr_FR"),
    ("+49 170 1234567", "FR=fr_FR,DE=de_DE", None, "de_DE"),
    ("+55 11 91234-5678", "BR=pt_BR", None, "pt_BR"),
    ("+52 55 1234 5678", "MX=es_MX", None, "es_MX"),
    ("+1 404-555-1234", "FR=fr_FR", None, "en_GB"),            # not listed: LOCALE
    ("+33 6 12 34 56 78", "FR=fr_FR", "de_DE", "de_DE"),       # the event type's wins
    (None, "FR=fr_FR", None, "en_GB"),
])
def test_the_invitees_locale_event_type_then_country_then_default(phone, by_country, event_locale, locale):
    config = {"event_types": {"Demo": {"locale": event_locale}}} if event_locale else {}
    settings = Settings.from_env({"LOCALE": "en_GB", "LOCALE_BY_COUNTRY": by_country})
    settings = Settings(locale=settings.locale, locale_by_country=settings.locale_by_country,
                        relay_config=parse_relay_config(config))
    assert policy_for(settings, None, "Demo").invitee_locale(normalize(phone), settings.locale_by_country) == locale


@pytest.mark.parametrize("value, complaint", [
    ("FR", "not COUNTRY=locale"), ("XX=fr_FR", "'XX' is not an ISO country code"),
    ("FR=xx_YY", "'xx_YY' is not a locale"), ("FR=", "not COUNTRY=locale"),
])
def test_locale_by_country_is_checked_at_start(value, complaint):
    with pytest.raises(ConfigError, match=f"^LOCALE_BY_COUNTRY .*{complaint}"):
        Settings.from_env({"LOCALE_BY_COUNTRY": value})


@pytest.mark.parametrize("config, complaint", [
    ({"templates": {"reminder": {"xx_YY": "1"}}}, "templates.reminder.xx_YY"),
    ({"templates": {"remindr": "1"}}, "templates"),
    ({"event_types": {"D": {"locale": "nope"}}}, "event_types.D.locale"),
    ({"event_types": {"D": {"templates": {"reminder": {"fr": 12}}}}}, "event_types.D.templates.reminder.fr"),
])
def test_relay_config_locales_and_templates_are_checked(config, complaint):
    with pytest.raises(ConfigError, match=complaint.replace(".", r"\.")):
        parse_relay_config(config)


# Each row: the locale, the invitee's zone, the time, and a 90-minute lead, as sent.
@pytest.mark.parametrize("locale, zone, time, lead", [
    ("en_US", "America/New_York", "Thu, Dec 3, 2026, 9:00 AM EST", "1 hour and 30 minutes"),
    ("fr_FR", "Europe/Paris", "jeu. 3 déc. 2026, 15:00 +0100", "1 heure et 30 minutes"),
    ("fr_CA", "America/Toronto", "jeu. 3 déc. 2026, 09 h 00 HNE", "1 heure et 30 minutes"),
    ("de_DE", "Europe/Berlin", "Do., 3. Dez. 2026, 15:00 MEZ", "1 Stunde und 30 Minuten"),
    ("pt_BR", "America/Sao_Paulo", "qui., 3 de dez. de 2026 11:00 BRT", "1 hora e 30 minutos"),
    ("es_MX", "America/Mexico_City", "jue, 3 de dic de 2026, 8:00 a.m. -0600", "1 hora y 30 minutos"),
])
def test_time_and_advance_in_the_invitees_locale_and_in_gsm7(locale, zone, time, lead):
    record = BookingRecord("https://api.calendly.com/invitees/X", BookingStatus.ACTIVE, name="Jo", start=START,
                           phone="+33612345678", timezone=zone)
    settings = Settings(locale=locale)
    sms = render(SmsKind.REMINDER, record, settings, offset=5400)
    assert (sms.params["time"], sms.params["advance"]) == (time, lead)
    assert set(sms.params["time"] + sms.params["advance"]) <= GSM7


def test_no_space_outside_gsm7_survives():
    assert gsm_text("1\u00a0heure\u202fet\u2009 30\u2007minutes") == "1 heure et  30 minutes"


def test_a_french_invitee_gets_the_french_template_and_french_times(conn, monkeypatch, tmp_path, caplog):
    from worker import context

    config = tmp_path / "relay.yml"
    config.write_text('templates:\n  reminder: {default: "1203", fr: "2203"}\n')
    for name, value in dict(LOCALE_BY_COUNTRY="FR=fr_FR", RELAY_CONFIG=str(config), REMINDER_OFFSETS="1h",
                            FOLLOWUP_DELAY="off").items():
        monkeypatch.setenv(name, value)
    context.reset()
    start = (datetime.now(timezone.utc) + timedelta(days=2)).replace(hour=14, minute=0, second=0, microsecond=0)
    apply(conn, "invitee.created", samples.invitee_payload(phone="+33 6 12 34 56 78", tz="Europe/Paris", start=start))
    [job_id] = scheduled(conn)
    fire(conn, job_id)
    confirm, reminder = console_messages(caplog)
    assert reminder["params"]["advance"] == "1 heure"
    assert reminder["params"]["time"].endswith("15:00 +0100") and confirm["params"]["time"] == reminder["params"]["time"]
    sent = render(SmsKind.REMINDER, _record(conn, start), context.current().settings, offset=3600)
    assert sent.template_id == "2203"


def _record(conn, start):
    from shared.booking import BookingStore

    [key] = conn.keys("relay:booking:*")
    return BookingStore(conn).load_by_digest(key.decode().rsplit(":", 1)[-1])


def test_host_notices_use_the_default_locale(conn):
    record = BookingRecord("https://api.calendly.com/invitees/X", BookingStatus.ACTIVE, name="Jo", start=START,
                           phone="+33612345678", timezone="Europe/Paris")
    settings = Settings(locale_by_country={"FR": "fr_FR"}, host_phone="+14045559876")
    assert render(SmsKind.CONFIRM, record, settings).params["time"].startswith("jeu.")
    assert render(SmsKind.HOST_NOTIFY, record, settings, recipient=Recipient.HOST).params["time"].startswith("Thu")


def test_config_check_lists_per_locale_the_kinds_without_a_template(tmp_path):
    from worker.cli.config_check import template_coverage

    settings = Settings(templates={kind: "1" for kind in ("confirm", "cancel", "reschedule", "reminder", "followup",
                                                          "host_notify", "no_show", "host_reconfirmed")},
                        locale_by_country={"FR": "fr_FR"},
                        relay_config=parse_relay_config({
                            "templates": {"reminder": {"fr": "2"}, "no_show": {"fr": None}},
                            "event_types": {"Demo": {"locale": "de_DE", "templates": {"followup": None}}}}))
    lines = template_coverage(settings)
    assert "  en_US: every kind has a template" in lines
    assert any(line.startswith("  fr_FR: disabled: no_show; not in fr_FR's language: confirm, cancel") for line in lines)
    assert any(line.startswith("  event type 'Demo', de_DE: disabled: followup;") for line in lines)
