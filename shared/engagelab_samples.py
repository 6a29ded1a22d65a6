"""EngageLab callback bodies as EngageLab sends them, for ``relay simulate`` and the tests
(the fake EngageLab in tests/fakes.py calls back with them).

Shapes (https://www.engagelab.com/docs/sms/api/callback, "Callback Event Reference", and
EngageLab's published event schemas, DevEngageLab/engagelab-skills
``engagelab-otp-webhook/references/EVENTS.md``): ``{"total": N, "rows": [...]}``; a status
row names the message (``message_id``, ``custom_args``) and its ``status.message_status``;
a reply row carries ``response.event == "uplink_message"`` with ``response_data.from/to/body``.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from shared.engagelab_callback import RELAY_ARG

FAILED_DETAIL = {
    "sent_failed": "Process failed: Other",
    "delivered_failed": "Send failed: Out of service",
    "target_invalid": "Invalid target",
}


def status_row(message_id: str, message_status: str, *, relay_message: str | None = None, to: str = "",
               error_code: int = 0, error_message: str | None = None, at: int | None = None) -> dict[str, Any]:
    at = int(time.time()) if at is None else at
    status: dict[str, Any] = {"message_status": message_status,
                              "status_data": {"msg_time": at, "message_id": message_id},
                              "error_code": error_code}
    if error_code or error_message:
        status["error_detail"] = {"message": error_message or FAILED_DETAIL.get(message_status, "failed")}
    return {"message_id": message_id, "to": to, "server": "sms", "channel": "sms", "itime": at,
            "custom_args": {RELAY_ARG: relay_message} if relay_message else {}, "status": status}


def reply_row(sender: str, text: str, *, to: str = "", at: int | None = None) -> dict[str, Any]:
    at = int(time.time()) if at is None else at
    return {"server": "sms", "itime": at, "message_id": "0", "business_id": "0",
            "response": {"event": "uplink_message",
                         "response_data": {"message_sid": f"SM{secrets.token_hex(8)}", "from": sender, "to": to,
                                           "body": text}}}


def body(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps({"total": len(rows), "rows": rows}, separators=(",", ":")).encode()
