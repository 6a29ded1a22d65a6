"""Reading EngageLab's callback rows (https://www.engagelab.com/docs/sms/api/callback and
EngageLab's published event schemas, shared/engagelab_samples.py): which kind a row is,
and its phone number."""

from __future__ import annotations

from typing import Any

from shared.optouts import canonical

UPLINK = "uplink_message"


class UnreadableRow(ValueError):
    """A row the relay cannot interpret; its message names the field, never its value."""


def row_kind(row: Any) -> str:
    """``status``, ``reply``, ``notification``, ``system_event``, ``response`` (another
    response event) or ``unknown``."""
    if not isinstance(row, dict):
        return "unknown"
    if isinstance(row.get("status"), dict):
        return "status"
    response = row.get("response")
    if isinstance(response, dict):
        return "reply" if response.get("event") == UPLINK else "response"
    for kind in ("notification", "system_event"):
        if isinstance(row.get(kind), dict):
            return kind
    return "unknown"


def callback_phone(raw: Any) -> str | None:
    """E.164 from a callback's number, which EngageLab writes with ``+`` in its examples
    and may write without (its send examples carry none), with spaces or dashes, or as a
    JSON number. Read as the opt-out list reads numbers (shared/optouts.py ``canonical``),
    so a STOP in any spelling the list takes is not lost as an unreadable number."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return canonical(raw)
    except ValueError:
        return None


def section(row: dict, name: str) -> dict:
    value = row.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UnreadableRow(f"{name} is not an object")
    return value
