"""The outermost layer of the web process: every request gets an id for its log lines, and
every answer carries that id (``X-Request-Id``) and the security headers (web/security.py).

A WSGI middleware rather than Flask's before/after/teardown hooks: it also frames the
answers that never reach Flask (BoundedBody's 408 and 413), and it costs the receiver's hot
path a fraction of what three hooks did (Flask wraps and inspects each hook on every
request, and the headers went through werkzeug's Headers object; bench/RESULTS.md, sixth
round).
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from typing import Callable, Iterable

from shared import logs
from shared.scrub import Verbatim
from web import security

log = logging.getLogger("relay.web")

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""A client's (or a proxy's: Heroku's router sets one) id is kept when it looks like one;
anything else is replaced, so a log line or an answer never carries a header's arbitrary
text (``fullmatch``: ``$`` would let a trailing newline through)."""


@functools.lru_cache(maxsize=1)
def warn_untrusted_proxy() -> None:
    """Once per process: behind a proxy with TRUSTED_PROXIES=0, every client shares the
    proxy's address (one sign-in throttle for all) and cookies lose their Secure flag."""
    log.warning("requests carry X-Forwarded-For but TRUSTED_PROXIES is 0: every client is seen as the proxy's "
                "address (one sign-in throttle for all, cookies without Secure); set TRUSTED_PROXIES to the "
                "number of proxies in front (Heroku: 1)")


class RequestFrame:
    def __init__(self, app: Callable, trusted_proxies: int):
        self.app = app
        self.trusted_proxies = trusted_proxies

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = given if REQUEST_ID.fullmatch(given) else Verbatim(uuid.uuid4().hex)
        if not self.trusted_proxies and "HTTP_X_FORWARDED_FOR" in environ:
            warn_untrusted_proxy()
        framing = (("X-Request-Id", request_id), *security.HEADER_ITEMS)

        def framed_start_response(status: str, headers: list, exc_info=None):
            headers.extend(framing)
            return start_response(status, headers, exc_info)

        # Reset when the app returns, as Flask pops its request context: no route streams.
        token = logs.request_id.set(request_id)
        try:
            return self.app(environ, framed_start_response)
        finally:
            logs.request_id.reset(token)
