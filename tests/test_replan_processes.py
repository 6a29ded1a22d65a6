"""Replanning through the real processes: ``relay scheduler`` notices at start that
REMINDER_OFFSETS changed since the pending reminders were planned, moves them, and the
reminder goes out at its new time, once (a local fake EngageLab over HTTP)."""

from __future__ import annotations

import math
import time

from rq_scheduler import Scheduler

from shared import keys
from tests.helpers import json_lines, wait_until
from tests.test_reminders_processes import BIN, book, due, env, kinds, process  # noqa: F401 (fixtures)


def pending(conn):
    return {job_id.decode().rsplit("-", 1)[0]: score
            for job_id, score in conn.zrange(Scheduler.scheduled_jobs_key, 0, -1, withscores=True)
            if job_id.startswith((b"reminder-", b"followup-"))}


def test_scheduler_replans_after_reminder_offsets_change(env, engagelab, conn, tmp_path):
    old = dict(env, REMINDER_OFFSETS="20s", FOLLOWUP_DELAY="off", LOG_FORMAT="json")
    new = dict(old, REMINDER_OFFSETS="4s")
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with process([str(BIN / "relay"), "worker"], old, first_log), \
            process([str(BIN / "relay"), "scheduler"], old, first_log):
        # First start ever: no fingerprint stored; it replans (nothing to change) and stores one.
        wait_until(lambda: conn.exists(keys.CONFIG_FINGERPRINT), timeout=30, what="the first fingerprint")
        fingerprint = conn.get(keys.CONFIG_FINGERPRINT)
        payload = book(conn, start_in=40)
        wait_until(lambda: kinds(engagelab) == ["101"], timeout=15, what="the confirmation")
        assert pending(conn) == {"reminder-20": math.ceil(due(payload, 20))}
    # A deploy with REMINDER_OFFSETS=4s: both processes restart with it.
    with process([str(BIN / "relay"), "worker"], new, second_log), \
            process([str(BIN / "relay"), "scheduler"], new, second_log):
        wait_until(lambda: conn.get(keys.CONFIG_FINGERPRINT) not in (None, fingerprint), timeout=30,
                   what="the replan after the change")
        assert pending(conn) == {"reminder-4": math.ceil(due(payload, 4))}
        assert kinds(engagelab) == ["101"]  # the 20 s reminder was removed, not sent
        wait_until(lambda: kinds(engagelab) == ["101", "104"], timeout=due(payload, 4) - time.time() + 15,
                   what="the moved reminder")
        sent_at = time.time()
        # Until the meeting starts and a little after: nothing more.
        time.sleep(max(0.0, due(payload, 0) - time.time()) + 1.5)
    assert kinds(engagelab) == ["101", "104"]
    [reminder] = [m for m in engagelab.messages() if m["template"] == "104"]
    assert reminder["params"]["advance"] == "4 seconds"
    assert due(payload, 4) - 1.5 <= sent_at <= due(payload, 4) + 5  # at its new time, not the old one
    lines = json_lines(second_log.read_text())
    summary = [line for line in lines if str(line.get("msg", "")).startswith("replan: ")]
    assert summary and summary[-1]["added"] == 1 and summary[-1]["removed"] == 1 and summary[-1]["moved"] == 0
    assert "+14045551234" not in second_log.read_text() and payload["uri"] not in second_log.read_text()
