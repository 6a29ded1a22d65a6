"""gunicorn settings for the ``web`` process; everything comes from the environment."""

import os
import sys

from gunicorn.glogging import Logger

from shared import defaults
from shared.settings import ConfigError, Settings



def _whole_number(name: str, default: int, maximum: int) -> int:
    """gunicorn reads these before on_starting could validate them: refuse a bad value here,
    naming the variable, rather than with a bare traceback."""
    raw = (os.environ.get(name) or "").strip() or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        print(f"calendly-relay web: configuration error: {name} must be a whole number between 1 and {maximum}, "
              f"got {raw!r}", file=sys.stderr, flush=True)
        sys.exit(2)
    return int(raw)


bind = f"0.0.0.0:{_whole_number('PORT', defaults.DEFAULT_PORT, 65535)}"
workers = _whole_number("WEB_CONCURRENCY", defaults.DEFAULT_WEB_CONCURRENCY, 64)
# Requests are read asynchronously, so a slow client cannot hold a worker (shared/defaults.py).
# gevent's monkey patching happens in each worker before it imports the app; nothing
# imported here may open sockets or import requests/redis (the master never needs them).
worker_class = defaults.WEB_WORKER_CLASS
worker_connections = defaults.WEB_WORKER_CONNECTIONS
timeout = defaults.WEB_TIMEOUT
graceful_timeout = defaults.WEB_GRACEFUL_TIMEOUT
# Under the gevent worker, keepalive is also the deadline for a complete request head.
keepalive = defaults.WEB_HEADER_TIMEOUT
# Calendly's requests are small; refuse oversized lines and headers before Flask sees them.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = None  # the app logs each delivery itself, with its outcome and request id
errorlog = "-"


class AccessLogOnlyWhenAsked(Logger):
    """gunicorn's logger, whose access log is on only when one is asked for (``accesslog``,
    e.g. ``--access-logfile -`` in GUNICORN_CMD_ARGS). gunicorn takes any logconfig_dict
    (set below, to format its own lines) for a possible access log, and then builds every
    request's log fields and record for a logger without a handler: 5 % of a web worker's
    CPU on the receiver's path, 9 % on the minimal receiver's (bench/RESULTS.md, sixth round)."""

    @property
    def access_log_enabled(self) -> bool:
        return bool(self.cfg.accesslog)


logger_class = AccessLogOnlyWhenAsked


def _log_format() -> str | None:
    """LOG_FORMAT; a configuration that does not read is left to on_starting, which says why."""
    try:
        return Settings.from_env().log_format
    except ConfigError:
        return None


# gunicorn's own lines (start, worker boot, timeouts) in the relay's format: JSON, or text
# on a terminal (shared/logs.py).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"relay": {"()": "shared.logs.formatter", "log_format": _log_format()}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "relay", "stream": "ext://sys.stderr"}},
    "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False}},
    "root": {"level": "INFO", "handlers": ["console"]},
}



# Forwarded headers are trusted in one place only, the app's ProxyFix (TRUSTED_PROXIES).
# gunicorn would otherwise believe X-Forwarded-Proto from 127.0.0.1 by default (a local
# proxy, or anything else on the host), whatever TRUSTED_PROXIES says.
forwarded_allow_ips = ""

# gunicorn's control socket lives in ~/.gunicorn and is shared by every instance on the
# host; the relay doesn't use it and several instances (tests, scaled dynos) would clash.
control_socket_disable = True


def on_starting(server):
    """Validate the configuration once in the master, before any worker boots."""
    try:
        Settings.from_env().check_web()
    except ConfigError as error:
        print(f"calendly-relay web: configuration error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
