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
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError

from shared.durations import parse_optional_duration, parse_optional_offsets
from shared.errors import ConfigError
from shared.vocabulary import SmsKind
from shared.relay_config import RelayConfig, load_relay_config

# --- Receiver -------------------------------------------------------------------------

DEFAULT_PORT = 8000

MAX_BODY_BYTES = 256 * 1024
"""Largest webhook body accepted; Calendly's deliveries are a few KiB."""

DEFAULT_WEBHOOK_TOLERANCE = 25 * 3600
"""Maximum age of the signature timestamp ``t``, in seconds.

Calendly retries a failed delivery for 24 hours and nothing documents that a retry is
re-signed with a fresh ``t``; a short window would reject every retry and in the end get
the subscription disabled. Replays inside the window are harmless because of dedupe."""

MAX_WEBHOOK_TOLERANCE = 30 * 24 * 3600

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays the receiver accepts. Calendly's deliveries are
five or six levels deep; a much deeper body (a hostile one) would only fail later, when
the job is pickled into Redis, after 200 had been answered."""

FUTURE_SKEW = 5 * 60
"""A timestamp further than this in the future is rejected (clock skew allowance)."""

WEBHOOK_VERIFICATION_FAILURES = 3
WEBHOOK_VERIFICATION_WINDOW = 10 * 60
"""The watchdog (shared/watchdog.py) raises the alarm after this many deliveries refused
for ``no_matching_signature`` within this many seconds, with none accepted in between: a
wrong or rotated key, or a proxy that alters the body. Calendly retries each refused
delivery and disables the subscription after 24 hours."""
WEBHOOK_VERIFICATION_ALERT_INTERVAL = 10 * 60
"""While the alarm is raised, one error line per this many seconds names the likely causes."""

DEDUPE_TTL_MIN = 7 * 24 * 3600
DEDUPE_TTL_MARGIN = 24 * 3600
"""The dedupe record lives at least a week and always a day longer than the tolerance,
so no delivery the signature check accepts can find its dedupe record expired."""

# --- Web process (gunicorn, web/gunicorn_config.py) -------------------------------------

DEFAULT_WEB_CONCURRENCY = 2
"""gunicorn worker processes (``WEB_CONCURRENCY``)."""

WEB_WORKER_CLASS = "gevent"
"""gunicorn's gevent worker reads each connection in a greenlet of its own. With the sync
worker a process read one request at a time, so a client sending its headers a byte at a
time held a whole worker until the 30 s timeout, and two such clients kept Calendly out.
redis-py (hiredis only parses), requests and Flask run unchanged under gevent's monkey
patching, which the worker applies before it imports the app (tests/faults cover both)."""

WEB_WORKER_CONNECTIONS = 1000
"""Connections one worker serves at once (gunicorn's default); beyond it, new connections
wait in the listen backlog. A slowloris needs this many open sockets per worker, each
renewed every ``WEB_HEADER_TIMEOUT``, to delay anyone: past that scale it is a flood for
a proxy or the platform's router to absorb, not something a worker setting can fix."""

WEB_HEADER_TIMEOUT = 5
"""Seconds a connection has to send a complete request head, and, kept alive, to start
its next request. gunicorn's gevent worker reads each head under a timer of its
``keepalive`` setting, so this bounds what a trickling client can hold; Calendly sends a
request in one go. The body is read next, at most ``MAX_BODY_BYTES`` within ``WEB_BODY_TIMEOUT``."""

WEB_BODY_TIMEOUT = 10
"""Seconds a request has to deliver its body once its head is in (web/body.py): a client
that sends a head and then nothing is answered 408 and closed instead of holding its
connection for good."""

WEB_TIMEOUT = 30
"""A worker whose event loop makes no progress for this long is restarted by gunicorn."""

PLATFORM_STOP_TIMEOUT = 30
"""Seconds between a platform's SIGTERM and its SIGKILL (Heroku: 30, to every process of
the dyno). Documentation and tests measure against it; no process waits this long."""

SHUTDOWN_GRACE = 25
"""Seconds the work in flight gets after SIGTERM: requests (web), the job (worker). Five
short of PLATFORM_STOP_TIMEOUT, so each process ends it itself, cleanly and logged,
before the platform's SIGKILL would."""

WEB_GRACEFUL_TIMEOUT = SHUTDOWN_GRACE
"""On SIGTERM, requests in flight get this long to finish (gunicorn's graceful_timeout)."""

WEB_REDIS_CONNECT_TIMEOUT = 0.5
WEB_REDIS_SOCKET_TIMEOUT = 0.75
"""The receiver answers 503 within about a second when Redis is unreachable, so a
request never hangs and Calendly retries later."""

WEB_APP_LOAD_ERROR_EXIT = 4
"""Exit status of a gunicorn worker that refuses to load the app (gunicorn's
``Arbiter.APP_LOAD_ERROR``): the master then stops with it. With any other status the
master boots the worker again, for ever, and the refusal scrolls by in a crash loop."""

# --- Redis connection -----------------------------------------------------------------

REDIS_SSL_CERT_REQS_CHOICES = ("required", "optional", "none")
DEFAULT_REDIS_SSL_CERT_REQS = "required"
"""Certificate check of a ``rediss://`` REDIS_URL (REDIS_SSL_CERT_REQS), redis-py's
``ssl_cert_reqs``. Heroku's Redis add-on accepts only TLS and signs its certificates with
a CA of its own, which no client trusts: there ``none`` (encrypted, but the server is not
authenticated) is the documented setting. ``optional`` is accepted for completeness; for a
client it checks exactly as ``required`` does (Python's ssl module). Ignored for
``redis://`` and ``unix://`` URLs."""

# --- Queues and jobs ------------------------------------------------------------------

EVENTS_QUEUE = "events"
SMS_QUEUE = "sms"
REMINDERS_QUEUE = "reminders"
CRM_QUEUE = "crm"
MAINTENANCE_QUEUE = "maintenance"
"""Subscription checks and reconciliation: slow API calls that must not hold up messages."""
WORKER_QUEUES = (EVENTS_QUEUE, SMS_QUEUE, REMINDERS_QUEUE, CRM_QUEUE, MAINTENANCE_QUEUE)
"""Queues a worker listens to, in priority order."""

PROCESS_EVENT_FUNC = "worker.jobs.process_event"
"""Referenced by name so the receiver never imports worker code."""

EVENT_JOB_RESULT_TTL = 24 * 3600
SIDE_EFFECT_RESULT_TTL = 24 * 3600
FAILED_JOB_TTL = 30 * 24 * 3600
JOB_TIMEOUT = 60
EVENT_JOB_OPTIONS = {"timeout": JOB_TIMEOUT, "result_ttl": EVENT_JOB_RESULT_TTL, "failure_ttl": FAILED_JOB_TTL}
"""A delivery's ``process_event`` job, as the receiver enqueues it (and a replay again)."""

SENT_MARKER_TTL = 60 * 24 * 3600
"""How long an idempotency key of a sent message is remembered."""

BOOKING_RECORD_TTL = 90 * 24 * 3600
"""A booking record is kept this long after the meeting ends (or after its last change
when the end is unknown)."""

SCHEDULED_JOB_RESULT_TTL = 7 * 24 * 3600

# --- Provider calls -------------------------------------------------------------------

HTTP_CONNECT_TIMEOUT = 5.0
HTTP_READ_TIMEOUT = 15.0
"""No provider call can hang a worker: every request has both timeouts."""

RETRY_BASE_DELAY = 30
RETRY_MAX_DELAY = 3600
RETRY_MAX_ATTEMPTS = 12
"""Transient failures are retried after 30 s, 1 min, 2 min ... capped at 1 h: twelve
attempts span about six hours, longer than a typical provider outage."""

FREQUENCY_LIMIT_DELAY = 3600
"""EngageLab 3004 (same template to the same number too often): try again much later."""

# --- Messages -------------------------------------------------------------------------

DEFAULT_TIMEZONE = "UTC"
DEFAULT_LOCALE = "en_US"
DEFAULT_REMINDER_OFFSETS = "24h,1h"
DEFAULT_FOLLOWUP_DELAY = "30m"
DEFAULT_ENGAGELAB_API_URL = "https://smsapi.engagelab.com"
DEFAULT_BREVO_API_URL = "https://api.brevo.com/v3"
DEFAULT_CALENDLY_API_URL = "https://api.calendly.com"
DEFAULT_CALENDLY_AUTH_URL = "https://auth.calendly.com"

DEFAULT_SMS_DAILY_CAP_PER_NUMBER = 10
"""Messages one invitee number may receive in any 24 hours (worker/toll_fraud.py): a
booking costs four or five, so two bookings a day pass and a pumping run does not."""
SMS_CAP_WINDOW = 24 * 3600

# --- Calendly API housekeeping --------------------------------------------------------

WEBHOOK_CHECK_INTERVAL = 3600
"""The scheduler checks the webhook subscription hourly: Calendly disables it silently
after 24 hours of failed deliveries."""
CALENDLY_FORBIDDEN_LOG_INTERVAL = 3600
"""A job that meets Calendly's 403 (a missing scope, the plan) goes on without the feature
and logs it at most once per this many seconds per feature; every one is counted."""
DEFAULT_RECONCILE_INTERVAL = "15m"
BACKFILL_MIN_INTERVAL = 0.15
"""Seconds between API calls in a backfill: about 400 a minute, under Calendly's 500."""

WORKER_CLASSES = ("simple", "fork")
DEFAULT_WORKER_CLASS = "simple"
"""``simple`` runs jobs in the worker process (RQ's SimpleWorker); ``fork`` forks a child
per job (RQ's Worker). The relay's jobs are short, pure-Python and bounded by timeouts,
and forking costs about 50 ms a job here, ten times the job itself (bench/reminders.py):
scale with more worker processes instead."""

ABANDONED_CHECK_INTERVAL = 15
"""Seconds between the scheduler's passes over jobs whose worker died mid-job (SIGKILL,
out of memory, a lost host). RQ declares such a job abandoned JOB_TIMEOUT + 60 s after it
started; the pass then puts it back on its queue (RQ alone would only fail it, and only
in a worker's ten-minute maintenance)."""
WORKER_LEFT_JOB_EXIT = 3
"""Exit status of a worker that stopped with a job unfinished, left to the recovery."""
MAX_ABANDONED_REQUEUES = 3
"""A job that kills its worker this many times stays failed (``relay failed list``):
requeueing a job that crashes every worker that takes it would stop all messages."""

MIN_ADMIN_TOKEN_LENGTH = 16
"""A shorter ADMIN_TOKEN is refused at start: it is the only guard of /admin and /metrics."""

# --- Admin surfaces (/admin, /metrics, the OAuth start) -------------------------------

DEFAULT_TRUSTED_PROXIES = 0
MAX_TRUSTED_PROXIES = 10
"""TRUSTED_PROXIES: how many reverse proxies stand in front of the web process (Heroku's
router is one). With 0, X-Forwarded-* headers are ignored: anyone can send them. More than
a handful is a typo, not a deployment."""

ADMIN_SESSION_SECONDS = 12 * 3600
"""A signed-in session lasts this long (absolute, not sliding); signing out, or a change of
ADMIN_TOKEN, ends it sooner."""

ADMIN_SIGN_IN_FAILURES = 10
ADMIN_SIGN_IN_WINDOW = 15 * 60
"""At most this many wrong admin tokens per client address per window (seconds), on the
sign-in form and as a bearer header alike. The window starts at the first failure; once
it is full, every attempt from that address gets 429 with Retry-After until the window
ends, without its token being looked at. Others keep signing in: the count is per address."""

ADMIN_THROTTLE_IPV6_PREFIX = 64
"""IPv6 clients are counted per /64 network: one host usually holds a whole /64, and
counting single addresses would give it 2**64 windows."""

ADMIN_SESSION_KDF_SALT = b"calendly-relay admin session v1"
ADMIN_SESSION_KDF = {"n": 2**14, "r": 8, "p": 1}
"""scrypt parameters for the key that binds sessions to ADMIN_TOKEN. The session record in
Redis holds HMAC(scrypt(ADMIN_TOKEN), session); scrypt makes every guess at the token from
a copy of Redis cost ~16 MiB and tens of milliseconds, while the web process derives the key
once and then pays one HMAC per request."""

WORKER_HEARTBEAT_MIN_INTERVAL = 10
"""Seconds between a worker's own heartbeats outside a job. RQ refreshes the worker key
(HSET and two EXPIREs, a round trip each) three times per job; the key lives for
``worker_ttl`` + 60 s (8 min), so one refresh every 10 s keeps it alive with room to
spare and saves a third of a job's round trips (bench/RESULTS.md, burst drain)."""

SMS_BACKENDS = ("engagelab", "console")
CRM_BACKENDS = ("brevo", "log", "off")

DEFAULT_SCHEDULER_INTERVAL = 1.0

# --- Development ----------------------------------------------------------------------

VAR_DIR = "var"
"""Where the embedded Redis and the development signing key live (relative to cwd)."""

EMBEDDED_REDIS_DB_FILE = "redis.db"
DEV_SIGNING_KEY_FILE = "dev_signing_key"
DEV_ADMIN_TOKEN_FILE = "dev_admin_token"


TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


DISABLED = object()
"""A template explicitly switched off for an event type (``null`` in RELAY_CONFIG)."""


@dataclass(frozen=True)
class MessagePolicy:
    templates: Mapping[str, str | object]
    reminder_offsets: tuple[timedelta, ...]
    followup_delay: timedelta | None

    def template(self, kind: str, backend: str) -> tuple[bool, str | None]:
        """(enabled, template id). An unset id disables the message, except on the
        console backend, which renders no template and shows every message; an
        explicit ``null`` in RELAY_CONFIG disables it everywhere."""
        value = self.templates.get(kind)
        if value is DISABLED:
            return False, None
        if value is None:
            return backend == "console", None
        return True, value


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    redis_ssl_cert_reqs: str = DEFAULT_REDIS_SSL_CERT_REQS
    """How a rediss:// REDIS_URL's certificate is checked (REDIS_SSL_CERT_REQS)."""
    port: int = DEFAULT_PORT
    signing_key: str | None = None
    """The key Calendly signs with; the first of CALENDLY_WEBHOOK_SIGNING_KEY's keys."""
    previous_signing_keys: tuple[str, ...] = field(default=(), repr=False)
    """Further comma-separated keys, still accepted while a key is being rotated."""
    allow_unsigned: bool = False
    webhook_tolerance: int = DEFAULT_WEBHOOK_TOLERANCE
    sms_backend: str = "console"
    crm_backend: str = "log"
    engagelab_dev_key: str | None = None
    engagelab_dev_secret: str | None = None
    brevo_api_key: str | None = None
    brevo_api_url: str = DEFAULT_BREVO_API_URL
    engagelab_api_url: str = DEFAULT_ENGAGELAB_API_URL
    templates: Mapping[str, str] = field(default_factory=dict)
    """Template id per SMS kind; a kind without one is disabled (console shows it anyway)."""
    reminder_offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
    followup_delay: timedelta | None = timedelta(minutes=30)
    relay_config: RelayConfig = field(default_factory=lambda: RelayConfig())
    calendly_access_token: str | None = None
    calendly_api_url: str = DEFAULT_CALENDLY_API_URL
    calendly_auth_url: str = DEFAULT_CALENDLY_AUTH_URL
    calendly_client_id: str | None = None
    calendly_client_secret: str | None = None
    calendly_redirect_uri: str | None = None
    calendly_scope: str = "organization"
    """Whose bookings backfill and reconciliation read: the organization's or the user's."""
    calendly_routing_forms: bool = False
    """Routing-form leads are expected (CALENDLY_ROUTING_FORMS): subscribe to
    routing_form_submission.created, and check its event and scope."""
    webhook_url: str | None = None
    """The public URL of this relay's /webhooks/calendly (RELAY_WEBHOOK_URL)."""
    reconcile_interval: timedelta | None = timedelta(minutes=15)
    admin_token: str | None = None
    trusted_proxies: int = DEFAULT_TRUSTED_PROXIES
    """Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (Werkzeug's ProxyFix)."""
    metrics_public: bool = False
    debug_capture: bool = False
    host_phone: str | None = None
    sms_countries: frozenset[str] = frozenset()
    """ISO regions whose numbers may be texted (SMS_COUNTRIES); empty: every region."""
    sms_daily_cap: int | None = DEFAULT_SMS_DAILY_CAP_PER_NUMBER
    """Messages per invitee number in any 24 hours; None: no cap (``off``)."""
    default_timezone: str = DEFAULT_TIMEZONE
    locale: str = DEFAULT_LOCALE
    scheduler_interval: float = DEFAULT_SCHEDULER_INTERVAL
    worker_class: str = DEFAULT_WORKER_CLASS
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def policy(self, event_type_uri: str | None, event_type_name: str | None) -> "MessagePolicy":
        """Templates, reminder offsets and follow-up for one event type: the global
        settings with that event type's RELAY_CONFIG overrides applied."""
        overrides = self.relay_config.for_event_type(event_type_uri, event_type_name)
        templates: dict[str, str | object] = dict(self.templates)
        offsets, followup = self.reminder_offsets, self.followup_delay
        if overrides is not None:
            for kind, template in overrides.templates.items():
                templates[kind] = DISABLED if template is None else template
            if overrides.reminder_offsets is not None:
                offsets = overrides.reminder_offsets
            if overrides.overrides_followup:
                followup = overrides.followup_delay
        return MessagePolicy(templates, offsets, followup)

    @property
    def dedupe_ttl(self) -> int:
        return max(DEDUPE_TTL_MIN, self.webhook_tolerance + DEDUPE_TTL_MARGIN)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        signing_keys = [k.strip() for k in (_optional(env, "CALENDLY_WEBHOOK_SIGNING_KEY") or "").split(",") if k.strip()]
        signing_key = signing_keys[0] if signing_keys else None
        dev_key = _optional(env, "ENGAGELAB_DEV_KEY")
        dev_secret = _optional(env, "ENGAGELAB_DEV_SECRET")
        brevo_key = _optional(env, "BREVO_API_KEY")
        redis_url = _optional(env, "REDIS_URL")
        settings = cls(
            redis_url=redis_url,
            redis_ssl_cert_reqs=_redis_cert_reqs(env, redis_url),
            port=_integer(env, "PORT", DEFAULT_PORT, minimum=1, maximum=65535),
            signing_key=signing_key,
            previous_signing_keys=tuple(signing_keys[1:]),
            allow_unsigned=_boolean(env, "RELAY_ALLOW_UNSIGNED", False),
            webhook_tolerance=_integer(
                env, "WEBHOOK_TOLERANCE", DEFAULT_WEBHOOK_TOLERANCE, minimum=1, maximum=MAX_WEBHOOK_TOLERANCE
            ),
            sms_backend=_choice(
                env, "SMS_BACKEND", SMS_BACKENDS, "engagelab" if dev_key else "console"
            ),
            crm_backend=_choice(
                env, "CRM_BACKEND", CRM_BACKENDS, "brevo" if brevo_key else "log"
            ),
            engagelab_dev_key=dev_key,
            engagelab_dev_secret=dev_secret,
            engagelab_api_url=_url(env, "ENGAGELAB_API_URL", DEFAULT_ENGAGELAB_API_URL),
            templates=_templates(env),
            reminder_offsets=_offsets(env, "REMINDER_OFFSETS", DEFAULT_REMINDER_OFFSETS),
            followup_delay=_optional_duration(env, "FOLLOWUP_DELAY", DEFAULT_FOLLOWUP_DELAY),
            relay_config=load_relay_config(_optional(env, "RELAY_CONFIG")),
            brevo_api_key=brevo_key,
            brevo_api_url=_url(env, "BREVO_API_URL", DEFAULT_BREVO_API_URL),
            calendly_access_token=_optional(env, "CALENDLY_ACCESS_TOKEN"),
            calendly_api_url=_url(env, "CALENDLY_API_URL", DEFAULT_CALENDLY_API_URL),
            calendly_auth_url=_url(env, "CALENDLY_AUTH_URL", DEFAULT_CALENDLY_AUTH_URL),
            calendly_client_id=_optional(env, "CALENDLY_CLIENT_ID"),
            calendly_client_secret=_optional(env, "CALENDLY_CLIENT_SECRET"),
            calendly_redirect_uri=_optional(env, "CALENDLY_REDIRECT_URI"),
            calendly_scope=_choice(env, "CALENDLY_SCOPE", ("organization", "user"), "organization"),
            calendly_routing_forms=_boolean(env, "CALENDLY_ROUTING_FORMS", False),
            webhook_url=_optional(env, "RELAY_WEBHOOK_URL"),
            reconcile_interval=_optional_duration(env, "RECONCILE_INTERVAL", DEFAULT_RECONCILE_INTERVAL),
            admin_token=_token(env, "ADMIN_TOKEN"),
            trusted_proxies=_integer(env, "TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES, minimum=0,
                                     maximum=MAX_TRUSTED_PROXIES),
            metrics_public=_boolean(env, "METRICS_PUBLIC", False),
            debug_capture=_boolean(env, "RELAY_DEBUG_CAPTURE", False),
            host_phone=_optional(env, "HOST_PHONE"),
            sms_countries=_regions(env, "SMS_COUNTRIES"),
            sms_daily_cap=_optional_count(env, "SMS_DAILY_CAP_PER_NUMBER", DEFAULT_SMS_DAILY_CAP_PER_NUMBER),
            default_timezone=_timezone(env, "DEFAULT_TIMEZONE", DEFAULT_TIMEZONE),
            locale=_locale(env, "LOCALE", DEFAULT_LOCALE),
            scheduler_interval=_number(
                env, "SCHEDULER_INTERVAL", DEFAULT_SCHEDULER_INTERVAL, minimum=0.1
            ),
            worker_class=_choice(env, "WORKER_CLASS", WORKER_CLASSES, DEFAULT_WORKER_CLASS),
            secrets=tuple(s for s in (*signing_keys, dev_secret, brevo_key, _optional(env, "CALENDLY_ACCESS_TOKEN"),
                                      _optional(env, "CALENDLY_CLIENT_SECRET"), _optional(env, "ADMIN_TOKEN"),
                                      _url_password(redis_url)) if s),
        )
        settings._check_backend_credentials()
        return settings

    @property
    def signing_keys(self) -> tuple[str, ...]:
        return ((self.signing_key,) if self.signing_key else ()) + self.previous_signing_keys

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


def _token(env: Mapping[str, str], name: str) -> str | None:
    value = _optional(env, name)
    if value is not None and len(value) < MIN_ADMIN_TOKEN_LENGTH:
        raise ConfigError(f"{name} must be at least {MIN_ADMIN_TOKEN_LENGTH} characters "
                          f"(it guards /admin; e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe())'`)")
    return value


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
    if not re.fullmatch(r"\d{1,12}", raw):
        raise ConfigError(f"{name} must be a whole number, got {raw!r}")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum else f"at least {minimum}"
        raise ConfigError(f"{name} must be {bounds}, got {raw!r}")
    return value


def _optional_count(env, name: str, default: int) -> int | None:
    """A whole number of at least 1, or ``off``."""
    raw = _optional(env, name)
    if raw is not None and raw.lower() == "off":
        return None
    return _integer(env, name, default, minimum=1)


def _regions(env, name: str) -> frozenset[str]:
    """Comma-separated ISO 3166 regions, e.g. ``US,GB,DE``; unset: every region."""
    import phonenumbers

    raw = _optional(env, name)
    if raw is None:
        return frozenset()
    regions = [part.strip().upper() for part in raw.split(",") if part.strip()]
    unknown = [region for region in regions if region not in phonenumbers.SUPPORTED_REGIONS]
    if unknown or not regions:
        raise ConfigError(f"{name} must be comma-separated ISO country codes such as US,GB,DE; "
                          f"not known: {', '.join(unknown) or raw!r}")
    return frozenset(regions)


def _choice(env, name: str, choices: tuple[str, ...], default: str) -> str:
    raw = _optional(env, name)
    if raw is None:
        return default
    value = raw.lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


def _url(env, name: str, default: str) -> str:
    value = (_optional(env, name) or default).rstrip("/")
    if not re.match(r"https?://[^/\s]+", value):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value


def _redis_cert_reqs(env, redis_url: str | None) -> str:
    """REDIS_SSL_CERT_REQS; redis-py lets an ``ssl_cert_reqs`` in the URL's query override
    it silently, so a URL that says otherwise is refused rather than obeyed behind the
    operator's back (the variable is the one place that says how Redis is checked)."""
    value = _choice(env, "REDIS_SSL_CERT_REQS", REDIS_SSL_CERT_REQS_CHOICES, DEFAULT_REDIS_SSL_CERT_REQS)
    in_url = parse_qs(urlsplit(redis_url or "").query).get("ssl_cert_reqs")
    if in_url and in_url[-1].lower() != value:
        raise ConfigError(f"REDIS_URL asks for ssl_cert_reqs={in_url[-1]} but REDIS_SSL_CERT_REQS is {value}: "
                          f"remove the parameter from REDIS_URL and set REDIS_SSL_CERT_REQS={in_url[-1].lower()}")
    return value


def _url_password(url: str | None) -> str | None:
    """The password in REDIS_URL (Heroku's has one): a secret the logs must never show."""
    try:
        return urlsplit(url or "").password or None
    except ValueError:
        return None


def _templates(env) -> dict[str, str]:
    return {kind: value for kind in SmsKind if (value := _optional(env, kind.template_variable))}


def _offsets(env, name: str, default: str) -> tuple[timedelta, ...]:
    try:
        return parse_optional_offsets(_optional(env, name) or default)
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from None


def _optional_duration(env, name: str, default: str) -> timedelta | None:
    try:
        return parse_optional_duration(_optional(env, name) or default)
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from None


def _timezone(env, name: str, default: str) -> str:
    value = _optional(env, name) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"{name} must be an IANA time zone such as Europe/Berlin, got {value!r}") from None
    return value


def _locale(env, name: str, default: str) -> str:
    value = _optional(env, name) or default
    try:
        Locale.parse(value)
    except (UnknownLocaleError, ValueError, TypeError):
        raise ConfigError(f"{name} must be a locale such as en_US or de_DE, got {value!r}") from None
    return value
