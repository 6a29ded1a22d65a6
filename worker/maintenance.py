"""The scheduler's periodic jobs (registered by ``relay scheduler``): the hourly check of
the webhook subscription and of what each Calendly feature may do, and the reconciliation
of the coming hours with Calendly. A refusal for a missing scope or the plan is noted and
skipped (asking again will not help); other errors are logged and the next run tries again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from shared import defaults, keys, stats
from shared.calendly import features, subscriptions
from shared.calendly.client import CalendlyError, Forbidden
from shared.calendly.oauth import api_client
from shared.errors import ConfigError
from shared.scrub import safe_message, safe_text
from shared.settings import Settings
from worker.backfill import reconcile

log = logging.getLogger("relay.worker")

PERIODIC_WEBHOOK_CHECK = "periodic-webhook-check"
PERIODIC_RECONCILE = "periodic-reconcile"


def register_periodic_jobs(scheduler, settings: Settings) -> list[str]:
    """The hourly subscription check and the reconciliation, when the relay has Calendly
    credentials. Fixed ids: a restart (or a second scheduler) replaces, never adds."""
    has_credentials = bool(settings.calendly_access_token or settings.calendly_client_id)
    wanted = {}
    if has_credentials and settings.webhook_url:
        wanted[PERIODIC_WEBHOOK_CHECK] = ("worker.jobs.check_webhooks", defaults.WEBHOOK_CHECK_INTERVAL)
    if has_credentials and settings.reconcile_interval:
        wanted[PERIODIC_RECONCILE] = ("worker.jobs.reconcile_bookings", int(settings.reconcile_interval.total_seconds()))
    for job_id in (PERIODIC_WEBHOOK_CHECK, PERIODIC_RECONCILE):
        if job_id not in wanted and job_id in scheduler:
            scheduler.cancel(job_id)
    now = datetime.now(timezone.utc)
    for job_id, (func, interval) in wanted.items():
        scheduler.schedule(now + timedelta(seconds=10), func, interval=interval, repeat=None, id=job_id,
                           queue_name=defaults.MAINTENANCE_QUEUE, timeout=600)
    return list(wanted)


def check_webhooks(conn, settings: Settings) -> dict[str, Any]:
    """Is Calendly still delivering to us? Logged loudly and kept for /metrics when not.
    Also checks what each Calendly feature may do, for /admin."""
    if not settings.webhook_url:
        return {"status": "skipped", "reason": "RELAY_WEBHOOK_URL is not set"}
    try:
        client = api_client(conn, settings)
        _check_features(conn, client, settings)
        state = subscriptions.check(client, settings.webhook_url, subscriptions.required_events(settings))
    except Forbidden as error:  # a missing scope or the plan: asking again will not help
        _webhook_state(conn, "unknown")
        return {"status": "skipped", "reason": features.note_forbidden(conn, error)}
    except (CalendlyError, ConfigError) as error:
        log.error("webhook subscription check failed: %s", safe_message(error))
        _webhook_state(conn, "unknown")
        return {"status": "error", "reason": str(error)}
    _webhook_state(conn, state.state)
    stats.count(conn, "webhook_checks", state.state)
    if not state.healthy:
        log.error("Calendly webhook subscription %s: %s (run: relay webhooks check --repair)", state.state,
                  state.message, extra={"subscription_state": state.state})
    elif state.state == subscriptions.RETRYING:
        log.warning("Calendly webhook subscription: %s", state.message, extra={"subscription_state": state.state})
    for problem in state.problems:
        log.error("Calendly webhook subscription: %s", problem, extra={"subscription_state": state.state})
    return {"status": state.state, "message": state.message, "problems": list(state.problems)}


def _check_features(conn, client, settings: Settings) -> None:
    """The hourly view of each Calendly feature (relay config check --remote's lines)."""
    results = features.probe(client, settings) + [features.oauth_result(conn, settings)]
    features.record(conn, results)
    for result in results:
        if not result.ok:
            log.warning("%s", safe_text(result.line()), extra={"feature": result.feature.name})


def _webhook_state(conn, state: str) -> None:
    conn.hset(keys.WEBHOOK_STATE, mapping={"state": state, "checked_at": datetime.now(timezone.utc).isoformat()})


def reconcile_bookings(conn, settings: Settings) -> dict[str, Any]:
    """The next 48 hours compared with Calendly and repaired (worker/backfill.py)."""
    try:
        report = reconcile(conn, api_client(conn, settings), settings)
    except Forbidden as error:  # a missing scope or the plan: the next run asks again, quietly
        return {"status": "skipped", "reason": features.note_forbidden(conn, error)}
    except (CalendlyError, ConfigError) as error:
        log.error("reconciliation failed: %s", safe_message(error))
        return {"status": "error", "reason": str(error)}
    log.info("reconciliation: %s", report.line(), extra={"applied": report.applied})
    report.raise_for_unusable()  # after the others were applied: the job fails, visibly
    return {"status": "done", "applied": report.applied, "skipped": report.skipped}
