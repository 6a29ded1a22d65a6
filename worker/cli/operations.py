"""The operator's tools: what is scheduled, what failed (and its replay), the captured
deliveries, the configuration check and the CRM's setup. /admin shows the same
(shared/operations.py), so both say the same thing."""

from __future__ import annotations

import json
import logging
import secrets
import sys

import click

from shared import captures, defaults, keys, operations, waiting
from shared.errors import ConfigError
from worker.cli.context import Relay, pass_relay

log = logging.getLogger("relay.cli")


@click.group()
def reminders() -> None:
    """Scheduled reminders."""


@reminders.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@pass_relay
def list_reminders(relay: Relay, limit: int) -> int:
    """What rq-scheduler will release next."""
    items = operations.upcoming(relay.redis, limit)
    for item in items:
        status = f"  [{item.booking_status}]" if item.booking_status else ""
        move = f"  {item.move}" if item.moved else ""
        print(f"{item.due:%Y-%m-%d %H:%M:%S} UTC  {item.kind:<10} {item.detail}{status}{move}  {item.job_id}")
    if not items:
        print("nothing scheduled")
    return 0


@reminders.command("replan")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@pass_relay
def replan_reminders(relay: Relay, dry_run: bool) -> int:
    """Plan the pending reminders of every active future booking again, under the current
    configuration (the scheduler does it at start when the configuration changed)."""
    from worker.cli.replan import run_replan

    return run_replan(relay, dry_run)


@click.group()
def failed() -> None:
    """Failed jobs."""


@failed.command("list")
@pass_relay
def list_failed(relay: Relay) -> int:
    """Failed jobs with their reasons."""
    items = operations.failures(relay.redis)
    for item in items:
        when = f"{item.failed_at:%Y-%m-%d %H:%M:%S}" if item.failed_at else "?"
        print(f"{when}  {item.queue:<11} {item.func:<14} {item.job_id}\n    {item.reason}")
    if not items:
        print("no failed jobs")
    return 0


@failed.command()
@click.argument("ident", metavar="[ID]", required=False)
@click.option("--all", "every", is_flag=True, help="Every failed job.")
@pass_relay
def retry(relay: Relay, ident: str | None, every: bool) -> int:
    """Requeue a failed job (or all) with a fresh retry budget."""
    if every:
        print(f"requeued {len(operations.retry_all_failed(relay.redis))} job(s)")
        return 0
    if not ident:
        raise ConfigError("give a job id (see relay failed list) or --all")
    try:
        operations.retry_failed(relay.redis, ident)
    except LookupError as error:
        print(f"relay: {error}", file=sys.stderr)
        return 1
    print(f"requeued {ident}")
    return 0


@click.group()
def deliveries() -> None:
    """Deliveries kept by RELAY_DEBUG_CAPTURE (24 h, masked)."""


@deliveries.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@pass_relay
def list_deliveries(relay: Relay, limit: int) -> int:
    """The captured deliveries, newest first."""
    items = captures.listing(relay.redis, limit)
    for capture in items:
        payload = capture["body"].get("payload") if isinstance(capture["body"], dict) else None
        who = payload.get("email") if isinstance(payload, dict) else None  # masked when captured
        who = who if isinstance(who, str) else "-"
        print(f"{capture['received_at'][:19]}  {capture['event']!s:<32} {who:<24} {capture['id']}")
    if not items:
        print("no captured deliveries" + ("" if relay.settings.debug_capture else " (RELAY_DEBUG_CAPTURE is off)"))
    return 0


@deliveries.command()
@click.argument("ident", metavar="ID")
@pass_relay
def show(relay: Relay, ident: str) -> int:
    """One delivery's headers and body (personal data masked)."""
    capture = captures.show(relay.redis, ident)
    if capture is None:
        print(f"relay: no captured delivery {ident} (kept {captures.CAPTURE_TTL // 3600} h)", file=sys.stderr)
        return 1
    print(json.dumps(capture, indent=2, ensure_ascii=False))
    return 0


@deliveries.command()
@click.argument("ident", metavar="ID")
@pass_relay
def replay(relay: Relay, ident: str) -> int:
    """Enqueue a delivery again, bypassing the dedupe (logged). The original delivery, which
    RQ keeps with its job, under a new job id; the lifecycle is idempotent, so a replay
    changes and sends only what is still missing."""
    from rq import Queue
    from rq.job import Job

    relay.log_to_stderr()
    [original] = Job.fetch_many([keys.event_job(ident)], connection=relay.redis)
    if original is None:
        print(f"relay: delivery {ident} is no longer kept (its job lives 24 h)", file=sys.stderr)
        return 1
    with relay.redis.pipeline() as pipe:  # enqueued and waited for, together
        job = Queue(defaults.EVENTS_QUEUE, connection=relay.redis).enqueue_call(
            defaults.PROCESS_EVENT_FUNC, args=original.args, job_id=f"{original.id}-replay-{secrets.token_hex(4)}",
            description=f"{original.description} (replay)", pipeline=pipe, **defaults.EVENT_JOB_OPTIONS)
        waiting.hold(pipe, original.args[0], job.id)
        pipe.execute()
    log.warning("delivery %s replayed by an operator: dedupe bypassed", ident, extra={"delivery": ident, "job": job.id})
    print(f"replayed {ident} as job {job.id}")
    return 0


@click.group()
def config() -> None:
    """Configuration."""


@config.command("check")
@click.option("--remote", is_flag=True,
              help="Also ask the SMS and CRM providers and Calendly whether templates, attributes and token are in "
                   "order.")
@pass_relay
def check_config(relay: Relay, remote: bool) -> int:
    """Validate every setting and print the effective configuration (secrets hidden)."""
    from shared.calendly import credentials
    from worker import context
    from worker.cli.config_check import describe, remote_checks

    settings = relay.settings
    context.current()  # the backends can be built
    for line in describe(settings):
        print(line)
    if not remote:
        return 0
    conn = relay.redis if credentials.kind(settings) else None  # OAuth tokens; results for /admin
    problems = 0
    for ok, line in remote_checks(settings, conn):
        print(("ok    " if ok else "FAIL  ") + line)
        problems += not ok
    return 1 if problems else 0


@click.group()
def crm() -> None:
    """CRM maintenance."""


@crm.command()
@pass_relay
def setup(relay: Relay) -> int:
    """Create what the CRM needs (Brevo: the mapped contact attributes); safe to re-run."""
    from worker.provider_errors import ProviderError
    from worker.providers import setup_crm

    settings = relay.settings
    try:
        done = setup_crm(settings)
    except ProviderError as error:
        print(f"relay crm setup: {error}", file=sys.stderr)
        return 1
    if done is None:
        raise ConfigError(f"CRM_BACKEND={settings.crm_backend} has nothing to set up (relay crm setup creates "
                          "Brevo's attributes: set BREVO_API_KEY)")
    for line in done:
        print(line)
    return 0


COMMANDS = (reminders, failed, deliveries, config, crm)
