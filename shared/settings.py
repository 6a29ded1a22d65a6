"""What an operator sets: the environment, read once, validated, into ``Settings``.

``Settings.from_env`` reads every variable through ``shared/environment.py`` (environs) and
raises ``ConfigError`` naming the variable when something is wrong, so a misconfigured
process stops at start instead of failing on the first webhook. The defaults are named in
``shared/defaults.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from shared import defaults, logs
from shared.durations import parse_duration, parse_optional_duration, parse_optional_offsets
from shared.environment import Environment, words
from shared.errors import ConfigError
from shared.relay_config import RelayConfig, load_relay_config
from shared.vocabulary import SmsKind

__all__ = ["CallbackSettings", "ConfigError", "ProviderSettings", "Settings"]


@dataclass(frozen=True)
class ProviderSettings:
    """What the worker's provider registry read (worker/providers.py): the chosen backends,
    each provider's own settings by name, and their secrets."""

    sms_backend: str
    crm_backend: str
    configs: Mapping[str, Any]
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class CallbackSettings:
    """EngageLab's callbacks: how they are authenticated, and the words replies are read by.
    https://www.engagelab.com/docs/sms/api/callback: a username and a secret (both, or
    neither) make EngageLab sign every callback in ``X-CALLBACK-ID``; an Authorization
    value is sent as the request's ``Authorization`` header."""

    username: str | None = None
    secret: str | None = field(default=None, repr=False)
    authorization: str | None = field(default=None, repr=False)
    tolerance: int = defaults.DEFAULT_ENGAGELAB_CALLBACK_TOLERANCE
    stop_words: frozenset[str] = frozenset(words(defaults.DEFAULT_SMS_STOP_WORDS))
    start_words: frozenset[str] = frozenset(words(defaults.DEFAULT_SMS_START_WORDS))
    confirm_words: frozenset[str] = frozenset(words(defaults.DEFAULT_SMS_CONFIRM_WORDS))

    @property
    def enabled(self) -> bool:
        return bool(self.secret or self.authorization)

    @classmethod
    def from_env(cls, env: Environment) -> "CallbackSettings":
        with env.prefixed("ENGAGELAB_CALLBACK_"):
            username, secret = env.read("str", "USERNAME"), env.read("str", "SECRET")
            authorization = env.read("str", "AUTHORIZATION")
            tolerance = env.read("whole_number", "TOLERANCE", defaults.DEFAULT_ENGAGELAB_CALLBACK_TOLERANCE,
                                 minimum=1, maximum=defaults.MAX_ENGAGELAB_CALLBACK_TOLERANCE)
        if bool(username) != bool(secret):
            missing, present = (("ENGAGELAB_CALLBACK_SECRET", "ENGAGELAB_CALLBACK_USERNAME") if username
                                else ("ENGAGELAB_CALLBACK_USERNAME", "ENGAGELAB_CALLBACK_SECRET"))
            raise ConfigError(f"{missing} is required when {present} is set: EngageLab signs callbacks with the "
                              "username and the secret together (set both as in its console, or neither)")
        lists = {name: frozenset(word.upper() for word in env.read("words", name, words(default)))
                 for name, default in (("SMS_STOP_WORDS", defaults.DEFAULT_SMS_STOP_WORDS),
                                       ("SMS_START_WORDS", defaults.DEFAULT_SMS_START_WORDS),
                                       ("SMS_CONFIRM_WORDS", defaults.DEFAULT_SMS_CONFIRM_WORDS))}
        for other in ("SMS_STOP_WORDS", "SMS_START_WORDS"):
            both = lists["SMS_CONFIRM_WORDS"] & lists[other]
            if both:
                raise ConfigError(f"SMS_CONFIRM_WORDS and {other} both contain {', '.join(sorted(both))}: a reply "
                                  "cannot both confirm a booking and change the opt-out; remove it from one of them")
        if lists["SMS_STOP_WORDS"] & lists["SMS_START_WORDS"]:
            both = lists["SMS_STOP_WORDS"] & lists["SMS_START_WORDS"]
            raise ConfigError(f"SMS_STOP_WORDS and SMS_START_WORDS both contain {', '.join(sorted(both))}")
        return cls(username, secret, authorization, tolerance, lists["SMS_STOP_WORDS"], lists["SMS_START_WORDS"],
                   lists["SMS_CONFIRM_WORDS"])


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    redis_ssl_cert_reqs: str = defaults.DEFAULT_REDIS_SSL_CERT_REQS
    """How a rediss:// REDIS_URL's certificate is checked (REDIS_SSL_CERT_REQS)."""
    port: int = defaults.DEFAULT_PORT
    signing_key: str | None = None
    """The key Calendly signs with; the first of CALENDLY_WEBHOOK_SIGNING_KEY's keys."""
    previous_signing_keys: tuple[str, ...] = field(default=(), repr=False)
    """Further comma-separated keys, still accepted while a key is being rotated."""
    allow_unsigned: bool = False
    webhook_tolerance: int = defaults.DEFAULT_WEBHOOK_TOLERANCE
    sms_backend: str = "console"
    """SMS_BACKEND; read by the worker's registry, which knows the providers (the receiver
    does not read it)."""
    crm_backend: str = "log"
    """CRM_BACKEND, likewise."""
    providers: Mapping[str, Any] = field(default_factory=dict)
    """Each provider's own settings by its name, as its module read them (ENGAGELAB_*, BREVO_*)."""
    templates: Mapping[str, str] = field(default_factory=dict)
    """Template id per SMS kind; a kind without one is disabled (console shows it anyway)."""
    reminder_offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
    followup_delay: timedelta | None = timedelta(minutes=30)
    relay_config: RelayConfig = field(default_factory=lambda: RelayConfig())
    calendly_access_token: str | None = None
    calendly_api_url: str = defaults.DEFAULT_CALENDLY_API_URL
    calendly_auth_url: str = defaults.DEFAULT_CALENDLY_AUTH_URL
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
    trusted_proxies: int = defaults.DEFAULT_TRUSTED_PROXIES
    """Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (Werkzeug's ProxyFix)."""
    metrics_public: bool = False
    debug_capture: bool = False
    host_phone: str | None = None
    sms_countries: frozenset[str] = frozenset()
    """ISO regions whose numbers may be texted (SMS_COUNTRIES); empty: every region."""
    sms_daily_cap: int | None = defaults.DEFAULT_SMS_DAILY_CAP_PER_NUMBER
    """Messages per invitee number in any 24 hours; None: no cap (``off``)."""
    default_timezone: str = defaults.DEFAULT_TIMEZONE
    locale: str = defaults.DEFAULT_LOCALE
    scheduler_interval: float = defaults.DEFAULT_SCHEDULER_INTERVAL
    worker_class: str = defaults.DEFAULT_WORKER_CLASS
    callbacks: CallbackSettings = field(default_factory=lambda: CallbackSettings())
    """POST /webhooks/engagelab and what replies mean (ENGAGELAB_CALLBACK_*, SMS_*_WORDS)."""
    ledger_retention: int = defaults.DEFAULT_LEDGER_RETENTION
    """Seconds a message's ledger entry is kept after its last event (LEDGER_RETENTION)."""
    log_format: str | None = None
    """LOG_FORMAT, ``json`` or ``text``; unset: text on a terminal, JSON otherwise (shared/logs.py)."""
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def dedupe_ttl(self) -> int:
        return max(defaults.DEDUPE_TTL_MIN, self.webhook_tolerance + defaults.DEDUPE_TTL_MARGIN)

    @property
    def signing_keys(self) -> tuple[str, ...]:
        return ((self.signing_key,) if self.signing_key else ()) + self.previous_signing_keys

    @classmethod
    def from_env(cls, source: Mapping[str, str] | None = None,
                 providers: Callable[[Environment], ProviderSettings] | None = None) -> "Settings":
        """``source`` is the environment (``os.environ`` unless given). ``providers`` reads the
        SMS and CRM providers' settings: ``worker.providers.settings_from_env`` passes it; the
        receiver, which sends nothing, reads without."""
        env = Environment(source)
        chosen = providers(env) if providers is not None else ProviderSettings("console", "log", {}, ())
        signing_keys = env.read("words", "CALENDLY_WEBHOOK_SIGNING_KEY", ())
        redis_url = env.read("str", "REDIS_URL")
        access_token = env.read("str", "CALENDLY_ACCESS_TOKEN")
        client_secret = env.read("str", "CALENDLY_CLIENT_SECRET")
        admin_token = env.read("token", "ADMIN_TOKEN", min_length=defaults.MIN_ADMIN_TOKEN_LENGTH)
        callbacks = CallbackSettings.from_env(env)
        return cls(
            redis_url=redis_url,
            redis_ssl_cert_reqs=_redis_cert_reqs(env, redis_url),
            port=env.read("whole_number", "PORT", defaults.DEFAULT_PORT, minimum=1, maximum=65535),
            signing_key=signing_keys[0] if signing_keys else None,
            previous_signing_keys=signing_keys[1:],
            allow_unsigned=env.read("flag", "RELAY_ALLOW_UNSIGNED", False),
            webhook_tolerance=env.read("whole_number", "WEBHOOK_TOLERANCE", defaults.DEFAULT_WEBHOOK_TOLERANCE,
                                       minimum=1, maximum=defaults.MAX_WEBHOOK_TOLERANCE),
            sms_backend=chosen.sms_backend,
            crm_backend=chosen.crm_backend,
            providers=chosen.configs,
            templates={kind: template for kind in SmsKind if (template := env.read("str", kind.template_variable))},
            reminder_offsets=env.read("offsets", "REMINDER_OFFSETS",
                                      parse_optional_offsets(defaults.DEFAULT_REMINDER_OFFSETS)),
            followup_delay=env.read("optional_duration", "FOLLOWUP_DELAY",
                                    parse_optional_duration(defaults.DEFAULT_FOLLOWUP_DELAY)),
            relay_config=load_relay_config(env.read("str", "RELAY_CONFIG")),
            calendly_access_token=access_token,
            calendly_api_url=env.read("http_url", "CALENDLY_API_URL", defaults.DEFAULT_CALENDLY_API_URL),
            calendly_auth_url=env.read("http_url", "CALENDLY_AUTH_URL", defaults.DEFAULT_CALENDLY_AUTH_URL),
            calendly_client_id=env.read("str", "CALENDLY_CLIENT_ID"),
            calendly_client_secret=client_secret,
            calendly_redirect_uri=env.read("str", "CALENDLY_REDIRECT_URI"),
            calendly_scope=env.read("choice", "CALENDLY_SCOPE", "organization", choices=("organization", "user")),
            calendly_routing_forms=env.read("flag", "CALENDLY_ROUTING_FORMS", False),
            webhook_url=env.read("str", "RELAY_WEBHOOK_URL"),
            reconcile_interval=env.read("optional_duration", "RECONCILE_INTERVAL",
                                        parse_optional_duration(defaults.DEFAULT_RECONCILE_INTERVAL)),
            admin_token=admin_token,
            trusted_proxies=env.read("whole_number", "TRUSTED_PROXIES", defaults.DEFAULT_TRUSTED_PROXIES,
                                     minimum=0, maximum=defaults.MAX_TRUSTED_PROXIES),
            metrics_public=env.read("flag", "METRICS_PUBLIC", False),
            debug_capture=env.read("flag", "RELAY_DEBUG_CAPTURE", False),
            host_phone=env.read("str", "HOST_PHONE"),
            sms_countries=env.read("regions", "SMS_COUNTRIES", frozenset()),
            sms_daily_cap=env.read("count_or_off", "SMS_DAILY_CAP_PER_NUMBER", defaults.DEFAULT_SMS_DAILY_CAP_PER_NUMBER),
            default_timezone=env.read("time_zone", "DEFAULT_TIMEZONE", defaults.DEFAULT_TIMEZONE),
            locale=env.read("locale", "LOCALE", defaults.DEFAULT_LOCALE),
            scheduler_interval=env.read("number", "SCHEDULER_INTERVAL", defaults.DEFAULT_SCHEDULER_INTERVAL,
                                        minimum=0.1),
            worker_class=env.read("choice", "WORKER_CLASS", defaults.DEFAULT_WORKER_CLASS,
                                  choices=defaults.WORKER_CLASSES),
            callbacks=callbacks,
            ledger_retention=int(env.read("duration", "LEDGER_RETENTION",
                                          parse_duration(defaults.DEFAULT_LEDGER_RETENTION_TEXT)).total_seconds()),
            log_format=env.read("choice", "LOG_FORMAT", None, choices=logs.FORMATS),
            secrets=tuple(s for s in (*signing_keys, *chosen.secrets, access_token, client_secret, admin_token,
                                      _url_password(redis_url), callbacks.secret, callbacks.authorization) if s),
        )

    def check_web(self) -> None:
        """The receiver must not start without a way to authenticate Calendly."""
        if not self.signing_key and not self.allow_unsigned:
            raise ConfigError(
                "CALENDLY_WEBHOOK_SIGNING_KEY is not set: the receiver refuses to run "
                "without it (set RELAY_ALLOW_UNSIGNED=1 to accept unsigned webhooks, "
                "for local experiments only)"
            )


def _redis_cert_reqs(env: Environment, redis_url: str | None) -> str:
    """REDIS_SSL_CERT_REQS; redis-py lets an ``ssl_cert_reqs`` in the URL's query override
    it silently, so a URL that says otherwise is refused rather than obeyed behind the
    operator's back (the variable is the one place that says how Redis is checked)."""
    value = env.read("choice", "REDIS_SSL_CERT_REQS", defaults.DEFAULT_REDIS_SSL_CERT_REQS,
                     choices=defaults.REDIS_SSL_CERT_REQS_CHOICES)
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
