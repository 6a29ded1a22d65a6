"""Every tunable of calendly-relay in one place.

Module-level constants are the named defaults (in the manner of rq's ``defaults.py``);
``Settings.from_env`` reads the environment once, validates it, and raises
``ConfigError`` naming the variable when something is wrong, so a misconfigured
process stops at start instead of failing on the first webhook.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError

# --- Receiver -------------------------------------------------------------------------

DEFAULT_PORT = 8000

MAX_BODY_BYTES = 256 * 1024
"""Largest webhook body accepted; Calendly's deliveries are a few KiB."""

DEFAULT_WEBHOOK_TOLERANCE = 25 * 3600
"""Maximum age of the signature timestamp ``t``, in seconds.

Calendly retries a failed delivery for 24 hours and nothing documents that a retry is
re-signed with a fresh ``t``; a short window would reject every retry and in the end get
the subscription disabled. Replays inside the window are harmless because of dedupe."""

FUTURE_SKEW = 5 * 60
"""A timestamp further than this in the future is rejected (clock skew allowance)."""

DEDUPE_TTL_MIN = 7 * 24 * 3600
DEDUPE_TTL_MARGIN = 24 * 3600
"""The dedupe record lives at least a week and always a day longer than the tolerance,
so no delivery the signature check accepts can find its dedupe record expired."""

WEB_REDIS_CONNECT_TIMEOUT = 0.5
WEB_REDIS_SOCKET_TIMEOUT = 0.75
"""The receiver answers 503 within about a second when Redis is unreachable, so a
request never hangs and Calendly retries later."""

# --- Queues and jobs ------------------------------------------------------------------

EVENTS_QUEUE = "events"
SMS_QUEUE = "sms"
CRM_QUEUE = "crm"
WORKER_QUEUES = (EVENTS_QUEUE, SMS_QUEUE, CRM_QUEUE)
"""Queues a worker listens to, in priority order."""

PROCESS_EVENT_FUNC = "worker.jobs.process_event"
"""Referenced by name so the receiver never imports worker code."""

EVENT_JOB_RESULT_TTL = 24 * 3600
SIDE_EFFECT_RESULT_TTL = 24 * 3600
FAILED_JOB_TTL = 30 * 24 * 3600
JOB_TIMEOUT = 60

SENT_MARKER_TTL = 60 * 24 * 3600
"""How long an idempotency key of a sent message is remembered."""

BOOKING_RECORD_TTL = 90 * 24 * 3600
"""A booking record is kept this long after the meeting ends (or after its last change
when the end is unknown)."""

# --- Messages -------------------------------------------------------------------------

DEFAULT_TIMEZONE = "UTC"
DEFAULT_LOCALE = "en_US"

SMS_BACKENDS = ("engagelab", "console")
CRM_BACKENDS = ("brevo", "log", "off")

DEFAULT_SCHEDULER_INTERVAL = 1.0

# --- Development ----------------------------------------------------------------------

VAR_DIR = "var"
"""Where the embedded Redis and the development signing key live (relative to cwd)."""

EMBEDDED_REDIS_DB_FILE = "redis.db"
DEV_SIGNING_KEY_FILE = "dev_signing_key"


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable."""


TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    port: int = DEFAULT_PORT
    signing_key: str | None = None
    allow_unsigned: bool = False
    webhook_tolerance: int = DEFAULT_WEBHOOK_TOLERANCE
    sms_backend: str = "console"
    crm_backend: str = "log"
    engagelab_dev_key: str | None = None
    engagelab_dev_secret: str | None = None
    brevo_api_key: str | None = None
    host_phone: str | None = None
    default_timezone: str = DEFAULT_TIMEZONE
    locale: str = DEFAULT_LOCALE
    scheduler_interval: float = DEFAULT_SCHEDULER_INTERVAL
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def dedupe_ttl(self) -> int:
        return max(DEDUPE_TTL_MIN, self.webhook_tolerance + DEDUPE_TTL_MARGIN)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        signing_key = _optional(env, "CALENDLY_WEBHOOK_SIGNING_KEY")
        dev_key = _optional(env, "ENGAGELAB_DEV_KEY")
        dev_secret = _optional(env, "ENGAGELAB_DEV_SECRET")
        brevo_key = _optional(env, "BREVO_API_KEY")
        settings = cls(
            redis_url=_optional(env, "REDIS_URL"),
            port=_integer(env, "PORT", DEFAULT_PORT, minimum=1, maximum=65535),
            signing_key=signing_key,
            allow_unsigned=_boolean(env, "RELAY_ALLOW_UNSIGNED", False),
            webhook_tolerance=_integer(
                env, "WEBHOOK_TOLERANCE", DEFAULT_WEBHOOK_TOLERANCE, minimum=1
            ),
            sms_backend=_choice(
                env, "SMS_BACKEND", SMS_BACKENDS, "engagelab" if dev_key else "console"
            ),
            crm_backend=_choice(
                env, "CRM_BACKEND", CRM_BACKENDS, "brevo" if brevo_key else "log"
            ),
            engagelab_dev_key=dev_key,
            engagelab_dev_secret=dev_secret,
            brevo_api_key=brevo_key,
            host_phone=_optional(env, "HOST_PHONE"),
            default_timezone=_timezone(env, "DEFAULT_TIMEZONE", DEFAULT_TIMEZONE),
            locale=_locale(env, "LOCALE", DEFAULT_LOCALE),
            scheduler_interval=_number(
                env, "SCHEDULER_INTERVAL", DEFAULT_SCHEDULER_INTERVAL, minimum=0.1
            ),
            secrets=tuple(s for s in (signing_key, dev_secret, brevo_key) if s),
        )
        settings._check_backend_credentials()
        return settings

    def check_web(self) -> None:
        """The receiver must not start without a way to authenticate Calendly."""
        if not self.signing_key and not self.allow_unsigned:
            raise ConfigError(
                "CALENDLY_WEBHOOK_SIGNING_KEY is not set: the receiver refuses to run "
                "without it (set RELAY_ALLOW_UNSIGNED=1 to accept unsigned webhooks, "
                "for local experiments only)"
            )

    def _check_backend_credentials(self) -> None:
        if self.sms_backend == "engagelab":
            for name, value in (
                ("ENGAGELAB_DEV_KEY", self.engagelab_dev_key),
                ("ENGAGELAB_DEV_SECRET", self.engagelab_dev_secret),
            ):
                if not value:
                    raise ConfigError(f"{name} is required when SMS_BACKEND=engagelab")
        if self.crm_backend == "brevo" and not self.brevo_api_key:
            raise ConfigError("BREVO_API_KEY is required when CRM_BACKEND=brevo")


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true/false), got {raw!r}")


def _number(env, name: str, default: float, minimum: float) -> float:
    raw = _optional(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def _integer(env, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = _optional(env, name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d+", raw):
        raise ConfigError(f"{name} must be a whole number, got {raw!r}")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum else f"at least {minimum}"
        raise ConfigError(f"{name} must be {bounds}, got {raw!r}")
    return value


def _choice(env, name: str, choices: tuple[str, ...], default: str) -> str:
    raw = _optional(env, name)
    if raw is None:
        return default
    value = raw.lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


def _timezone(env, name: str, default: str) -> str:
    value = _optional(env, name) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} must be an IANA time zone such as Europe/Berlin, got {value!r}") from None
    return value


def _locale(env, name: str, default: str) -> str:
    value = _optional(env, name) or default
    try:
        Locale.parse(value)
    except (UnknownLocaleError, ValueError, TypeError):
        raise ConfigError(f"{name} must be a locale such as en_US or de_DE, got {value!r}") from None
    return value


def parse_duration(text: str) -> timedelta:
    """Parse ``24h``, ``1h30m``, ``90s``, ``2d``: units s, m, h, d, combinable."""
    cleaned = text.strip().lower()
    match = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", cleaned)
    if not cleaned or not match:
        raise ValueError(f"{text!r} is not a duration like 24h, 1h30m, 45m or 2d")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
