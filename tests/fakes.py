"""Local fake providers speaking real HTTP, for tests with real worker processes."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeProvider:
    """A threaded HTTP server that records every request and answers from a script.

    ``script`` maps a path to a list of (status, body) answers used in turn; when a
    path's list runs out, ``default`` answers."""

    def __init__(self, default=(200, {})):
        self.requests: list[dict[str, Any]] = []
        self.script: dict[str, list[tuple[int, Any]]] = {}
        self.default = default
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                provider.handle(self)

            do_PUT = do_GET = do_DELETE = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, status: int, body: Any, times: int = 1) -> None:
        with self.lock:
            self.script.setdefault(path, []).extend([(status, body)] * times)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = handler.path.split("?", 1)[0]
        with self.lock:
            answers = self.script.get(path) or []
            status, reply = answers.pop(0) if answers else self.respond(path, body)
            self.requests.append({"method": handler.command, "path": handler.path, "headers": dict(handler.headers),
                                  "body": body, "status": status, "at": time.time()})
        payload = json.dumps(reply).encode() if not isinstance(reply, bytes) else reply
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def respond(self, path: str, body: Any) -> tuple[int, Any]:
        return self.default

    def received(self, path: str | None = None, status: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests
                    if (path is None or r["path"].startswith(path)) and (status is None or r["status"] == status)]


class FakeEngageLab(FakeProvider):
    """``POST /v1/messages``: accepts each message with a fresh message id."""

    def __init__(self):
        super().__init__()
        self.counter = 0

    def respond(self, path, body):
        if path != "/v1/messages":
            return 404, {"code": 4001, "message": "not found"}
        self.counter += 1
        return 200, {"plan_id": f"plan-{self.counter}", "total_count": 1, "accepted_count": 1,
                     "message_id": f"msg-{self.counter}"}

    def messages(self) -> list[dict[str, Any]]:
        """Accepted sends: {to, template, params}."""
        return [{"to": r["body"]["to"][0], "template": r["body"]["template"]["id"],
                 "params": r["body"]["template"]["params"]}
                for r in self.received("/v1/messages", status=200)]
