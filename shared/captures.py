"""Debug capture: the last deliveries the receiver accepted, kept to look at (and replay).

With RELAY_DEBUG_CAPTURE=1 the receiver keeps each accepted delivery's body and a few
headers, for CAPTURE_TTL, the newest CAPTURE_SIZE of them, in one Redis list written in the
same atomic step as the job (so what is listed is exactly what was enqueued, and the cap
is exact). ``relay deliveries list|show|replay`` read it.

What is kept is masked: phone numbers in any format and e-mail addresses, configured
secrets, the booking's cancel and reschedule links (whoever holds them can change the
booking) and the meeting's join link (it may carry the meeting's password), and every
header but a harmless few (the signature only by its timestamp). Calendly's API URIs stay
readable: they name resources, and only a token opens them.

Replay does not use the masked copy: it re-enqueues the original delivery that RQ keeps
with the delivery's job (EVENT_JOB_RESULT_TTL, as long as the capture).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any, Iterable, Mapping

from shared import keys
from shared.scrub import scrub

CAPTURE_LIST = keys.PREFIX + "capture:deliveries"
CAPTURE_SIZE = 200
CAPTURE_TTL = 24 * 3600
"""No longer than the delivery's job is kept (EVENT_JOB_RESULT_TTL): a listed capture can
always be replayed."""
KEPT_HEADERS = frozenset({"content-type", "content-length", "user-agent", "x-request-id"})
SIGNATURE_HEADER = "calendly-webhook-signature"
CAPABILITY_FIELDS = frozenset({"cancel_url", "reschedule_url", "join_url"})


def snapshot(ident: str, envelope: dict[str, Any], headers: Mapping[str, str], received_at: str,
             secrets: Iterable[str] = ()) -> str:
    """The stored form of one delivery."""
    secrets = tuple(secrets)
    kept = {name: scrub(value, secrets) for name, value in headers.items() if name.lower() in KEPT_HEADERS}
    signature = next((value for name, value in headers.items() if name.lower() == SIGNATURE_HEADER), None)
    if signature is not None:
        kept["Calendly-Webhook-Signature"] = ",".join(p for p in signature.split(",") if p.startswith("t=")) + ",v1=…"
    return json.dumps({"id": ident, "received_at": received_at, "event": envelope.get("event"), "headers": kept,
                       "body": _masked(envelope, secrets)})


def listing(conn, limit: int = CAPTURE_SIZE) -> list[dict[str, Any]]:
    """The captures of the last CAPTURE_TTL, newest first."""
    cutoff = time.time() - CAPTURE_TTL
    items = [json.loads(raw) for raw in conn.lrange(CAPTURE_LIST, 0, CAPTURE_SIZE - 1)]
    return [item for item in items if datetime.fromisoformat(item["received_at"]).timestamp() > cutoff][:limit]


def show(conn, ident: str) -> dict[str, Any] | None:
    return next((item for item in listing(conn) if item["id"] == ident), None)


def _masked(value: Any, secrets: tuple[str, ...], key: str = "") -> Any:
    if isinstance(value, str):
        if key in CAPABILITY_FIELDS:
            return value.rsplit("/", 1)[0] + "/***"
        return scrub(value, secrets)  # links too (Calendly's API URIs stay readable)
    if isinstance(value, dict):
        return {name: _masked(item, secrets, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, secrets, key) for item in value]
    return value
