"""An EngageLab callback body, processed row by row (the receiver, web/engagelab.py,
enqueued it on the ``callbacks`` queue).

Each row is handled on its own: a status row goes to the message's ledger entry
(worker/callbacks/status.py), a reply to the opt-out list or a reconfirmation
(worker/callbacks/replies.py); notifications and system events are only counted. A row
the relay cannot read is counted (``relay_engagelab_rows{kind, outcome="unreadable"}``)
and logged masked, and the other rows go on. Only Redis failing fails the job (RQ keeps
it; ``relay failed retry`` replays it, and every step is safe to repeat).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from redis.exceptions import RedisError
from rq.timeouts import BaseTimeoutException

from shared import stats
from shared.scrub import safe_message
from shared.settings import Settings
from worker.callbacks.replies import handle_reply
from worker.callbacks.rows import UnreadableRow, row_kind
from worker.callbacks.status import handle_status

log = logging.getLogger("relay.worker")

HANDLERS = {"status": handle_status, "reply": handle_reply}
ROWS_LOGGED = 20
"""Rows of one body that get a log line of their own when ignored or unreadable; a hostile
or broken body of thousands of such rows must not flood the log (nor take the job's time
writing it)."""


def process_callback(conn, body: Any, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        rows = []
    now = now or datetime.now(timezone.utc)
    outcomes: Counter[tuple[str, str]] = Counter()
    for index, row in enumerate(rows):
        kind = row_kind(row)
        outcome = process_row(conn, kind, row, settings, now, index, quiet=index >= ROWS_LOGGED)
        outcomes[(kind, outcome)] += 1
    # One round trip for the counts, once every row is done: a body of thousands of rows
    # costs no round trip per row for them, and a job replayed after Redis failed midway
    # counts its rows once.
    with conn.pipeline(transaction=False) as pipe:
        for (kind, outcome), amount in outcomes.items():
            stats.count(pipe, "engagelab_rows", kind, outcome, amount=amount)
        pipe.execute()
    summary = {f"{kind}:{outcome}": amount for (kind, outcome), amount in outcomes.items()}
    log.info("engagelab callback processed: %d rows", len(rows), extra={"rows": len(rows), "outcomes": summary})
    return {"status": "processed", "rows": len(rows), "outcomes": summary}


def process_row(conn, kind: str, row: Any, settings: Settings, now: datetime, index: int,
                quiet: bool = False) -> str:
    """``quiet``: past the first ROWS_LOGGED rows, an ignored or unreadable row gets no line
    of its own (the body's summary line counts it)."""
    handler = HANDLERS.get(kind)
    if handler is None:
        if not quiet:
            event = _other_event(row)
            log.info("engagelab %s row ignored: %s", kind, event, extra={"row_kind": kind, "row_event": event})
        return "ignored"
    try:
        return handler(conn, row, settings, now)
    except (RedisError, BaseTimeoutException):
        # The whole job is retried or replayed: nothing half-done is lost. RQ's timeout is
        # an Exception too: caught below, it would be one row's error and the job would run
        # on past JOB_TIMEOUT.
        raise
    except UnreadableRow as problem:
        if not quiet:
            log.warning("engagelab %s row %d unreadable: %s", kind, index, problem,
                        extra={"row_kind": kind, "reason": "unreadable"})
        return "unreadable"
    except Exception as error:  # noqa: BLE001 - one bad row must not stop the others
        log.error("engagelab %s row %d failed: %s: %s", kind, index, type(error).__name__, safe_message(error),
                  exc_info=not quiet, extra={"row_kind": kind, "reason": "error"})
        return "error"


def _other_event(row: Any) -> str:
    """``notification.event`` or ``system_event.event``: short words, safe to log."""
    if isinstance(row, dict):
        for section in ("notification", "system_event", "response"):
            value = row.get(section)
            if isinstance(value, dict) and isinstance(value.get("event"), str):
                return value["event"][:64]
    return "?"
