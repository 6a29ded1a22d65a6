"""The planning configuration's fingerprint, and the replan it triggers when it changed.

The scheduler computes the sha256 of the canonical JSON of ``planning_inputs(settings)``
(worker/planning_inputs.py) at start and compares it with the one stored in Redis under
``relay:config:fingerprint``. When they differ, the pending reminders were planned under
another configuration: it replans them (worker/replan.py), under a Redis lock so that two
schedulers starting together replan once, and stores the new fingerprint only once the
replan completed (a scheduler stopped midway leaves the old one, and the next start
replans again: replanning is idempotent).

The first start ever (no fingerprint stored) replans too: nothing recorded which
configuration the pending jobs were planned under (an upgrade from a version without
fingerprints, a REMINDER_OFFSETS changed in the same deploy), and replanning jobs that
already match changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading

from redis.exceptions import LockNotOwnedError

from shared import defaults, keys
from shared.settings import Settings
from worker.planning_inputs import planning_inputs
from worker.replan import ReplanSummary, replan_all

log = logging.getLogger("relay.replan")


def fingerprint(settings: Settings) -> str:
    canonical = json.dumps(planning_inputs(settings), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored_fingerprint(conn) -> str | None:
    value = conn.get(keys.CONFIG_FINGERPRINT)
    return value.decode() if value else None


def store_fingerprint(conn, settings: Settings) -> None:
    conn.set(keys.CONFIG_FINGERPRINT, fingerprint(settings))


def replan_if_changed(conn, settings: Settings) -> ReplanSummary | None:
    """At the scheduler's start: replan when the configuration changed since the last
    replan; None when there was nothing to do or another scheduler is at it."""
    current = fingerprint(settings)
    if stored_fingerprint(conn) == current:
        log.info("configuration unchanged since the last plan: no replan", extra={"fingerprint": current[:12]})
        return None
    lock = conn.lock(keys.CONFIG_REPLAN_LOCK, timeout=defaults.REPLAN_LOCK_TTL, blocking=False)
    if not lock.acquire():
        log.info("another scheduler is replanning for a changed configuration", extra={"fingerprint": current[:12]})
        return None
    try:
        previous = stored_fingerprint(conn)  # read again under the lock: it may have just been done
        if previous == current:
            return None
        log.info("configuration changed since the pending reminders were planned: replanning",
                 extra={"fingerprint": current[:12], "previous": (previous or "none")[:12]})
        summary = replan_all(conn, settings, after_batch=lock.reacquire)
        if summary.complete:  # else the next start replans again, for the bookings left
            conn.set(keys.CONFIG_FINGERPRINT, current)
        return summary
    finally:
        try:
            lock.release()
        except LockNotOwnedError:  # expired during a long stall: whoever holds it now keeps it
            pass


def replan_in_background(conn, settings: Settings) -> threading.Thread:
    """The scheduler's start: the replan runs beside rq-scheduler's loop, so reminders due
    meanwhile are released on time (each booking's transaction makes the two safe together)."""

    def run() -> None:
        try:
            replan_if_changed(conn, settings)
        except Exception:  # noqa: BLE001 (the scheduler goes on; the next start tries again)
            log.exception("replan after a configuration change failed; the next scheduler start tries again")

    thread = threading.Thread(target=run, name="replan", daemon=True)
    thread.start()
    return thread
