from datetime import timedelta

import pytest

from shared.durations import parse_duration
from shared.defaults import DEFAULT_WEBHOOK_TOLERANCE
from shared.settings import ConfigError
from worker.providers import settings_from_env


def test_defaults():
    settings = settings_from_env({})
    assert settings.sms_backend == "console"
    assert settings.crm_backend == "log"
    assert settings.port == 8000
    assert settings.webhook_tolerance == DEFAULT_WEBHOOK_TOLERANCE > 24 * 3600
    assert settings.dedupe_ttl > settings.webhook_tolerance
    assert settings.scheduler_interval == 1
    assert settings.trusted_proxies == 0


def test_trusted_proxies():
    assert settings_from_env({"TRUSTED_PROXIES": "1"}).trusted_proxies == 1
    assert settings_from_env({"TRUSTED_PROXIES": "0"}).trusted_proxies == 0


def test_credentials_pick_the_real_backends():
    settings = settings_from_env({"ENGAGELAB_DEV_KEY": "k", "ENGAGELAB_DEV_SECRET": "s", "BREVO_API_KEY": "b"})
    assert (settings.sms_backend, settings.crm_backend) == ("engagelab", "brevo")
    assert set(settings.secrets) == {"s", "b"}


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"SMS_BACKEND": "engagelab"}, "ENGAGELAB_DEV_KEY"),
        ({"ENGAGELAB_DEV_KEY": "k"}, "ENGAGELAB_DEV_SECRET"),
        ({"CRM_BACKEND": "brevo"}, "BREVO_API_KEY"),
        ({"SMS_BACKEND": "twilio"}, "SMS_BACKEND"),
        ({"CRM_BACKEND": "hubspot"}, "CRM_BACKEND"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"WEBHOOK_TOLERANCE": "-1"}, "WEBHOOK_TOLERANCE"),
        ({"WEBHOOK_TOLERANCE": "0"}, "WEBHOOK_TOLERANCE"),
        ({"RELAY_ALLOW_UNSIGNED": "maybe"}, "RELAY_ALLOW_UNSIGNED"),
        ({"DEFAULT_TIMEZONE": "Mars/Olympus"}, "DEFAULT_TIMEZONE"),
        ({"LOCALE": "xx_YY"}, "LOCALE"),
        ({"SCHEDULER_INTERVAL": "0"}, "SCHEDULER_INTERVAL"),
        ({"SCHEDULER_INTERVAL": "fast"}, "SCHEDULER_INTERVAL"),
        ({"DEFAULT_TIMEZONE": "America"}, "DEFAULT_TIMEZONE"),
        ({"REMINDER_OFFSETS": "9999999999d"}, "REMINDER_OFFSETS"),
        ({"FOLLOWUP_DELAY": "3000000d"}, "FOLLOWUP_DELAY"),
        ({"WEBHOOK_TOLERANCE": "9" * 5000}, "WEBHOOK_TOLERANCE"),
        ({"WEBHOOK_TOLERANCE": str(365 * 86400)}, "WEBHOOK_TOLERANCE"),
        ({"ADMIN_TOKEN": "admin"}, "ADMIN_TOKEN"),
        ({"TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXIES": "one"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXIES": "11"}, "TRUSTED_PROXIES"),
    ],
)
def test_misconfiguration_names_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        settings_from_env(env)


def test_long_tolerance_stretches_the_dedupe_record():
    settings = settings_from_env({"WEBHOOK_TOLERANCE": str(30 * 24 * 3600)})
    assert settings.dedupe_ttl > 30 * 24 * 3600


def test_web_needs_a_key_or_an_explicit_opt_out():
    with pytest.raises(ConfigError, match="CALENDLY_WEBHOOK_SIGNING_KEY"):
        settings_from_env({}).check_web()
    settings_from_env({"RELAY_ALLOW_UNSIGNED": "1"}).check_web()
    settings_from_env({"CALENDLY_WEBHOOK_SIGNING_KEY": "k"}).check_web()


@pytest.mark.parametrize(
    "text, value",
    [("24h", timedelta(hours=24)), ("1h30m", timedelta(minutes=90)), ("45s", timedelta(seconds=45)),
     ("2d", timedelta(days=2)), (" 1H ", timedelta(hours=1))],
)
def test_durations(text, value):
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["", "h", "1x", "1.5h", "30m1h", "-1h", "366d", "99999999999999999d"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_several_signing_keys_for_a_rotation():
    settings = settings_from_env({"CALENDLY_WEBHOOK_SIGNING_KEY": "new-key, old-key"})
    assert settings.signing_key == "new-key" and settings.signing_keys == ("new-key", "old-key")
    assert {"new-key", "old-key"} <= set(settings.secrets)
