"""Every request's body read up front, within a deadline and a size cap.

gunicorn's gevent worker bounds how long a request head may take (WEB_HEADER_TIMEOUT), but
the body is read by the app: a client that sends a head with a Content-Length and then
nothing would hold its connection for good, and a chunked body has no length to refuse
early (Werkzeug would silently cut it at MAX_BODY_BYTES). So before the app sees a request,
its body is read here, at most MAX_BODY_BYTES (413 beyond, chunked or not) and, under
gevent, within WEB_BODY_TIMEOUT seconds (408 after). Calendly's deliveries are a few KiB
sent at once.
"""

from __future__ import annotations

import io
import json
from typing import Callable, Iterable

from shared import defaults


class BoundedBody:
    def __init__(self, app: Callable, max_bytes: int = defaults.MAX_BODY_BYTES,
                 timeout: float = defaults.WEB_BODY_TIMEOUT):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length = environ.get("CONTENT_LENGTH") or ""
        if not chunked and not length.strip():
            return self.app(environ, start_response)
        if length.strip().isdigit() and int(length) > self.max_bytes:
            return _refuse(start_response, 413, "request_entity_too_large", self._too_large())
        # With a length, exactly that much: PEP 3333 lets a server hand over its raw socket
        # (Werkzeug's does), where reading past the body waits for bytes that never come.
        # Chunked, the server ends the stream with the body; one byte over the cap says 413.
        wanted = int(length) if length.strip().isdigit() and not chunked else self.max_bytes + 1
        try:
            with _deadline(self.timeout):
                body = environ["wsgi.input"].read(wanted)
        except _Timeout:
            return _refuse(start_response, 408, "request_timeout",
                           f"the request body did not arrive within {self.timeout:g} seconds")
        if len(body) > self.max_bytes:
            return _refuse(start_response, 413, "request_entity_too_large", self._too_large())
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)

    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"


def _refuse(start_response: Callable, status: int, code: str, message: str) -> list[bytes]:
    body = json.dumps({"error": code, "message": message}).encode()
    reason = {408: "Request Timeout", 413: "Request Entity Too Large"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                          ("Connection", "close")])
    return [body]


try:  # the deadline needs gevent's hub, which only the gevent worker runs
    from gevent import Timeout as _Timeout
    from gevent.monkey import is_module_patched

    def _deadline(seconds: float):
        return _Timeout(seconds) if is_module_patched("socket") else _NoDeadline()
except ImportError:  # pragma: no cover - gevent is a dependency of the web process
    class _Timeout(Exception):  # type: ignore[no-redef]
        pass

    def _deadline(seconds: float):
        return _NoDeadline()


class _NoDeadline:
    """Outside gevent (tests, werkzeug's server) reads block as they always did."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
