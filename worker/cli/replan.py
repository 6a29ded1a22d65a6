"""``relay reminders replan [--dry-run]``: what worker/replan.py does at a scheduler's start
after a configuration change, on demand, printed per booking (by digest: no personal data)."""

from __future__ import annotations

from datetime import datetime

from worker.cli.context import Relay
from worker.replan import ADDED, REMOVED, JobChange, ReplanSummary


def run_replan(relay: Relay, dry_run: bool) -> int:
    from worker.config_fingerprint import store_fingerprint
    from worker.replan import replan_all

    relay.log_to_stderr()
    summary = replan_all(relay.redis, relay.settings, dry_run=dry_run)
    if not dry_run and summary.complete:
        # The pending jobs now match this configuration: a scheduler started with it has
        # nothing left to replan.
        store_fingerprint(relay.redis, relay.settings)
    print(report(summary))
    return 0


def report(summary: ReplanSummary) -> str:
    lines = []
    for item in summary.changed:
        lines.append(f"booking {item.booking[:16]}")
        lines += [f"  {describe(change)}" for change in item.changes]
    lines.append(summary.line() + (" (dry run: nothing was changed)" if summary.dry_run else ""))
    return "\n".join(lines)


def describe(change: JobChange) -> str:
    if change.change == ADDED:
        return f"+ {change.label:<16} at {_when(change.after)}"
    if change.change == REMOVED:
        return f"- {change.label:<16} was {_when(change.before)}"
    return f"~ {change.label:<16} {_when(change.before)} -> {_when(change.after)}"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "?"
