"""The WSGI entry point: ``gunicorn -c python:web.gunicorn_config web.wsgi:app``."""

from __future__ import annotations

import sys

from shared.defaults import WEB_APP_LOAD_ERROR_EXIT
from shared.settings import ConfigError
from web.app import create_app

try:
    app = create_app()
except ConfigError as error:  # a clear line instead of a traceback, then stop
    print(f"calendly-relay web: configuration error: {error}", file=sys.stderr, flush=True)
    # gunicorn's master stops on this status; on any other it would boot the worker again.
    raise SystemExit(WEB_APP_LOAD_ERROR_EXIT) from None
