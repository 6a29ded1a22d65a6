"""A status row: the message's ledger entry gets the event, matched by the ``custom_args``
the relay sent with it, else by EngageLab's message id (shared/ledger.py keeps a row it
cannot match as an orphan). A row telling that the number unsubscribed or is blacklisted
puts the number on the opt-out list.

``message_status`` values (https://www.engagelab.com/docs/sms/api/callback; EngageLab's
event schemas): ``plan`` and ``target_valid`` are steps on the way (counted only);
``sent``; ``delivered``; ``target_invalid``, ``sent_failed`` (one example spells it
``sent_fail``) and ``delivered_failed`` are failures, with ``error_code`` and
``error_detail.message``.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime

from shared import ledger
from shared.engagelab_callback import RELAY_ARG
from shared.scrub import mask_phone, safe_text
from shared.settings import Settings
from shared.vocabulary import LedgerEvent
from worker import optout
from worker.callbacks.rows import UnreadableRow, callback_phone, section

log = logging.getLogger("relay.worker")

INFORMATIONAL = frozenset({"plan", "target_valid"})
EVENTS = {
    "sent": LedgerEvent.SENT,
    "delivered": LedgerEvent.DELIVERED,
    "sent_failed": LedgerEvent.FAILED,
    "sent_fail": LedgerEvent.FAILED,
    "delivered_failed": LedgerEvent.FAILED,
    "target_invalid": LedgerEvent.FAILED,
}
OPTED_OUT_CODES = frozenset({5013, 5019})
"""Number blacklisted; user unsubscribed (EngageLab's delivery-outcome codes,
DevEngageLab/engagelab-skills ``references/ERRORS.md``; shared/research/providers.md §A.4)."""
OPTED_OUT_TEXT = re.compile(r"unsubscri|blacklist", re.IGNORECASE)
"""The console's wording of the same outcomes: "Process failed: Unsubscribe" (the person
replied to unsubscribe; EngageLab will not deliver to the number) and "Blacklist" (on the
channel's or operator's blacklist). https://www.engagelab.com/docs/SMS/Console-Guide/Delivery-Response"""
MAX_REASON = 200


def handle_status(conn, row: dict, settings: Settings, now: datetime) -> str:
    status = section(row, "status")
    name = status.get("message_status")
    if name in INFORMATIONAL:
        return "informational"
    event = EVENTS.get(name) if isinstance(name, str) else None
    if event is None:
        raise UnreadableRow("status.message_status is not one EngageLab documents")
    data = section(status, "status_data")
    provider_id = _text(row.get("message_id")) or _text(data.get("message_id"))
    relay_message = _text(section(row, "custom_args").get(RELAY_ARG))
    if not provider_id and not relay_message:
        raise UnreadableRow("the row names no message (no message_id, no custom_args)")
    detail: dict = {}
    code, reason = _error(status)
    if event == LedgerEvent.SENT:
        detail["provider_id"] = provider_id
    elif event == LedgerEvent.FAILED:
        detail.update(code=code, reason=reason or name, status=name)
    matched = ledger.record_status(conn, relay_message=relay_message, provider_id=provider_id, event=event,
                                   at=_when(row, data, now), **detail)
    outcome = str(event) if matched else "orphan"
    if event == LedgerEvent.FAILED and (code in OPTED_OUT_CODES or OPTED_OUT_TEXT.search(reason or "")):
        phone = callback_phone(row.get("to"))
        if phone is None:
            log.warning("engagelab says a number opted out, but the row's number is unreadable",
                        extra={"code": code})
        else:
            log.info("engagelab says %s opted out or is blacklisted (%s)", mask_phone(phone), code,
                     extra={"to": mask_phone(phone), "code": code})
            optout.opt_out(conn, phone, "status", settings)
            outcome = "opted_out"
    return outcome


def _error(status: dict) -> tuple[int | None, str | None]:
    try:
        code = int(status.get("error_code")) if status.get("error_code") not in (None, "") else None
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 is JSON for infinity
        code = None
    message = section(status, "error_detail").get("message")
    reason = safe_text(message)[:MAX_REASON] if isinstance(message, str) and message.strip() else None
    return (code or None), reason


def _when(row: dict, data: dict, now: datetime) -> float:
    """When EngageLab saw it (``itime``, unix seconds), else when the status says, else now."""
    for value in (row.get("itime"), data.get("msg_time")):
        if isinstance(value, (int, float)) and 0 < value < 10**11:
            return float(value)
    return now.timestamp() if now else time.time()


def _text(value) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip() not in ("", "0"):
        return str(value).strip()[:64]
    return None
