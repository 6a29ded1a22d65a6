"""The ``relay`` command: run the processes, and simulate Calendly.

    relay dev         web + worker + scheduler in one terminal (embedded Redis if no REDIS_URL)
    relay worker      the RQ worker (Procfile ``worker``)
    relay scheduler   rq-scheduler's loop (Procfile ``scheduler``)
    relay release     checks and Brevo setup before a release goes live (Procfile ``release``)
    relay simulate    send a realistic, correctly signed delivery to a running receiver

and the operator's tools: webhooks, backfill, event-types, links, reminders, failed,
deliveries, config, crm (``relay --help``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from shared import logs
from shared import defaults
from shared.durations import parse_duration
from shared.settings import ConfigError, Settings
from worker.providers import settings_from_env

log = logging.getLogger("relay.cli")

PROCESSES = {
    "web": "gunicorn -c python:web.gunicorn_config web.wsgi:app",
    "worker": "relay worker",
    "scheduler": "relay scheduler",
}
"""The Procfile's long-running process types; ``relay dev`` runs exactly these commands.
The Procfile's fourth line, ``release:`` (``shared.release.COMMAND``), runs once per deploy
and exits: it is not one of them."""

SIMULATED_EVENTS = (
    "invitee.created",
    "invitee.canceled",
    "reschedule",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
    "routing_form_submission.created",
)
LAST_SIMULATED_FILE = "simulate_last.json"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except ConfigError as error:
        print(f"calendly-relay: configuration error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        # Any command's first Redis call can meet a certificate it cannot verify: that is
        # REDIS_SSL_CERT_REQS to set, said as such rather than as a traceback.
        from shared.redis_conn import certificate_refusal

        refusal = certificate_refusal(error)
        if refusal is None:
            raise
        print(f"calendly-relay: configuration error: {refusal}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay", description="calendly-relay: Calendly → SMS and CRM")
    sub = parser.add_subparsers(metavar="COMMAND")

    dev = sub.add_parser("dev", help="run web, worker and scheduler together (development)")
    dev.set_defaults(func=cmd_dev)

    worker = sub.add_parser("worker", help="run an RQ worker on the relay's queues")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.set_defaults(func=cmd_worker)

    scheduler = sub.add_parser("scheduler", help="run the rq-scheduler loop")
    scheduler.set_defaults(func=cmd_scheduler)

    release = sub.add_parser("release", help="before a release goes live (Procfile release:): check the "
                                             "configuration and Redis, create missing Brevo attributes")
    release.set_defaults(func=cmd_release)

    hooks = sub.add_parser("webhooks", help="Calendly webhook subscriptions")
    hooks_sub = hooks.add_subparsers(metavar="ACTION")
    subscribe = hooks_sub.add_parser("subscribe", help="subscribe this relay to Calendly's events")
    subscribe.add_argument("--url", help="this relay's public /webhooks/calendly URL (default RELAY_WEBHOOK_URL)")
    subscribe.add_argument("--scope", choices=("organization", "user"), default="organization")
    subscribe.add_argument("--events", nargs="+", help="events (default: invitee created/canceled, no-shows)")
    subscribe.add_argument("--routing-forms", action="store_true",
                           help="also routing_form_submission.created (organization scope only)")
    subscribe.set_defaults(func=cmd_webhooks_subscribe)
    listing = hooks_sub.add_parser("list", help="show subscriptions, flagging disabled or retrying ones")
    listing.set_defaults(func=cmd_webhooks_list)
    remove = hooks_sub.add_parser("delete", help="delete a subscription by id or URI")
    remove.add_argument("id")
    remove.set_defaults(func=cmd_webhooks_delete)
    check = hooks_sub.add_parser("check", help="exit 1 when this relay's subscription is disabled or missing")
    check.add_argument("--url", help="default RELAY_WEBHOOK_URL")
    check.add_argument("--repair", action="store_true", help="delete and recreate it when it is")
    check.set_defaults(func=cmd_webhooks_check)

    fill = sub.add_parser("backfill", help="apply existing Calendly bookings (no confirmations sent)")
    fill.add_argument("--from", dest="start", help="first start date (YYYY-MM-DD, default now)")
    fill.add_argument("--to", dest="end", help="last start date (YYYY-MM-DD, default 60 days ahead)")
    fill.add_argument("--dry-run", action="store_true", help="show what would be applied, change nothing")
    fill.set_defaults(func=cmd_backfill)

    reminders = sub.add_parser("reminders", help="scheduled reminders")
    reminders_sub = reminders.add_subparsers(metavar="ACTION")
    upcoming = reminders_sub.add_parser("list", help="what rq-scheduler will release next")
    upcoming.add_argument("--limit", type=int, default=50)
    upcoming.set_defaults(func=cmd_reminders_list)

    failed = sub.add_parser("failed", help="failed jobs")
    failed_sub = failed.add_subparsers(metavar="ACTION")
    failed_list = failed_sub.add_parser("list", help="failed jobs with their reasons")
    failed_list.set_defaults(func=cmd_failed_list)
    failed_retry = failed_sub.add_parser("retry", help="requeue a failed job (or all) with a fresh retry budget")
    failed_retry.add_argument("id", nargs="?")
    failed_retry.add_argument("--all", action="store_true")
    failed_retry.set_defaults(func=cmd_failed_retry)

    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(metavar="ACTION")
    config_check = config_sub.add_parser("check", help="validate every setting and print the effective configuration")
    config_check.add_argument("--remote", action="store_true",
                              help="also ask EngageLab, Brevo and Calendly whether templates, attributes and token are in order")
    config_check.set_defaults(func=cmd_config_check)

    crm = sub.add_parser("crm", help="CRM (Brevo) maintenance")
    crm_sub = crm.add_subparsers(metavar="ACTION")
    setup = crm_sub.add_parser("setup", help="create the mapped contact attributes in Brevo (safe to re-run)")
    setup.set_defaults(func=cmd_crm_setup)

    types = sub.add_parser("event-types", help="Calendly event types")
    types_sub = types.add_subparsers(metavar="ACTION")
    types_list = types_sub.add_parser("list", help="URI, slug, name, duration and state of every event type")
    types_list.add_argument("--yaml", action="store_true", help="print a RELAY_CONFIG skeleton with every event type")
    types_list.set_defaults(func=cmd_event_types_list)

    links = sub.add_parser("links", help="single-use booking links")
    links_sub = links.add_subparsers(metavar="ACTION")
    create = links_sub.add_parser("create", help="print a fresh single-use booking link for an event type")
    create.add_argument("event_type", metavar="EVENT_TYPE", help="its URI, UUID, slug or name")
    create.add_argument("--max-events", type=int, default=1, help="bookings the link allows (Calendly accepts 1)")
    create.set_defaults(func=cmd_links_create)

    deliveries = sub.add_parser("deliveries", help="deliveries kept by RELAY_DEBUG_CAPTURE (24 h, masked)")
    deliveries_sub = deliveries.add_subparsers(metavar="ACTION")
    captured = deliveries_sub.add_parser("list", help="the captured deliveries, newest first")
    captured.add_argument("--limit", type=int, default=50)
    captured.set_defaults(func=cmd_deliveries_list)
    shown = deliveries_sub.add_parser("show", help="one delivery's headers and body (personal data masked)")
    shown.add_argument("id")
    shown.set_defaults(func=cmd_deliveries_show)
    replay = deliveries_sub.add_parser("replay", help="enqueue a delivery again, bypassing the dedupe (logged)")
    replay.add_argument("id")
    replay.set_defaults(func=cmd_deliveries_replay)

    sim = sub.add_parser("simulate", help="send a signed Calendly delivery to a running receiver")
    sim.add_argument("event", choices=SIMULATED_EVENTS)
    sim.add_argument("--url", help="receiver URL (default http://localhost:$PORT/webhooks/calendly)")
    sim.add_argument("--name", default="Jane Doe")
    sim.add_argument("--email", default="jane.doe@example.com")
    sim.add_argument("--phone", default="+1 404-555-1234")
    sim.add_argument("--timezone", default="America/New_York")
    sim.add_argument("--start-in", default="2h", help="meeting start from now, e.g. 2h, 1d, 45m")
    sim.add_argument("--duration", default="30m")
    sim.add_argument("--key", help="signing key (default CALENDLY_WEBHOOK_SIGNING_KEY or the dev key)")
    sim.set_defaults(func=cmd_simulate)
    return parser


# --- processes ------------------------------------------------------------------------

def cmd_worker(args) -> int:
    from rq import Queue

    from shared.redis_conn import connect_for, wait_until_reachable
    from worker import context, jobs  # noqa: F401  (imported once here, not in every job)
    from worker.rq_worker import WORKER_CLASSES, QuietSuccess

    settings = settings_from_env()
    logs.configure(secrets=settings.secrets)
    context.current()  # builds the backends now: bad credentials stop the process here
    conn = connect_for(settings)
    wait_until_reachable(conn, "worker")
    queues = [Queue(name, connection=conn) for name in defaults.WORKER_QUEUES]
    worker = WORKER_CLASSES[settings.worker_class](queues, connection=conn)
    logging.getLogger("rq.worker").addFilter(QuietSuccess())
    log.info("worker starting", extra={"queues": list(defaults.WORKER_QUEUES), "worker_class": settings.worker_class})
    if settings.sms_backend != "console" and not settings.sms_countries:
        log.warning("SMS_COUNTRIES is not set: invitees' mobiles in every country are texted, the dearest "
                    "included; list the countries you serve (e.g. SMS_COUNTRIES=US,GB,DE)")
    worker.work(burst=args.burst, logging_level="INFO")
    return 0


def cmd_scheduler(args) -> int:
    from shared.redis_conn import connect_for, wait_until_reachable
    from worker.scheduling import BatchScheduler

    settings = settings_from_env()
    logs.configure(secrets=settings.secrets)
    conn = connect_for(settings)
    wait_until_reachable(conn, "scheduler")
    scheduler = BatchScheduler(connection=conn, interval=settings.scheduler_interval)
    register_periodic_jobs(scheduler, settings)
    log.info("scheduler starting", extra={"interval": settings.scheduler_interval})
    scheduler.run()
    return 0


def cmd_release(args) -> int:
    from shared.release import ReleaseFailed, run

    try:
        run(settings_from_env())
    except ReleaseFailed as error:
        print(f"relay release: {error}", file=sys.stderr)
        return 1
    return 0


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


def _calendly(settings: Settings, **options):
    from shared.calendly.oauth import api_client

    conn = _redis(settings)
    return conn, api_client(conn, settings, **options)


def _webhook_url(args, settings: Settings) -> str:
    url = getattr(args, "url", None) or settings.webhook_url
    if not url:
        raise ConfigError("give --url or set RELAY_WEBHOOK_URL (this relay's public /webhooks/calendly URL)")
    return url


def _calendly_errors(command):
    """Calendly's refusals are an operator's problem to read, not a traceback."""
    def run(args) -> int:
        from shared.calendly.client import CalendlyError

        try:
            return command(args)
        except CalendlyError as error:
            print(f"relay: {error}", file=sys.stderr)
            return 1
    run.__name__ = command.__name__
    return run


@_calendly_errors
def cmd_webhooks_subscribe(args) -> int:
    from shared.calendly import subscriptions

    from shared.calendly import credentials

    settings = settings_from_env()
    _require_signing_key(settings, "the receiver verifies every delivery with it")
    events = list(args.events or subscriptions.required_events(settings))
    if args.routing_forms:
        events += [e for e in subscriptions.ROUTING_EVENTS if e not in events]
    _, client = _calendly(settings)
    outcome, subscription = subscriptions.subscribe(client, _webhook_url(args, settings), args.scope, events,
                                                    credentials.subscription_signing_key(settings))
    if outcome == "exists":
        print("a subscription for this URL already exists (Calendly answered 409); nothing changed")
    else:
        print("subscribed")
    if subscription:
        print(subscriptions.describe(subscription))
    if credentials.kind(settings) == credentials.OAUTH:
        print(f"note: {credentials.OAUTH_SIGNING_KEY_NOTE}")
    return 0


def _require_signing_key(settings: Settings, why: str) -> None:
    from shared.calendly import credentials

    if settings.signing_key:
        return
    if credentials.kind(settings) == credentials.OAUTH:
        raise ConfigError(f"CALENDLY_WEBHOOK_SIGNING_KEY is required ({why}): {credentials.OAUTH_SIGNING_KEY_NOTE}")
    raise ConfigError(f"CALENDLY_WEBHOOK_SIGNING_KEY is required: Calendly signs deliveries with it and {why}")


@_calendly_errors
def cmd_webhooks_list(args) -> int:
    from shared.calendly import subscriptions

    _, client = _calendly(settings_from_env())
    items = subscriptions.list_subscriptions(client)
    for item in items:
        print(subscriptions.describe(item))
    if not items:
        print("no webhook subscriptions")
    return 0


@_calendly_errors
def cmd_webhooks_delete(args) -> int:
    from shared.calendly import subscriptions

    _, client = _calendly(settings_from_env())
    subscriptions.delete(client, args.id)
    print(f"deleted {args.id}")
    return 0


@_calendly_errors
def cmd_webhooks_check(args) -> int:
    """Exit 0 when all is well; 1 when the subscription is disabled or missing, several
    deliver to the URL, one lacks an event the configuration needs, or deliveries keep
    failing verification (shared/watchdog.py). --repair recreates a disabled or missing one."""
    from shared.calendly import credentials, subscriptions

    settings = settings_from_env()
    if args.repair:
        _require_signing_key(settings, "to recreate the subscription")
    conn, client = _calendly(settings)
    url = _webhook_url(args, settings)
    required = subscriptions.required_events(settings)
    if args.repair:
        state, subscription = subscriptions.repair(client, url, credentials.subscription_signing_key(settings),
                                                   required)
        _print_repair(state, subscription)
        healthy = True  # recreated when it was not
    else:
        state = subscriptions.check(client, url, required)
        print(state.message)
        healthy = state.healthy
    problems = _delivery_problems(conn, state)
    for problem in problems:
        print(f"problem: {problem}")
    return 0 if healthy and not problems else 1


def _print_repair(state, subscription) -> None:
    from shared.calendly import subscriptions

    print(state.message)
    if not state.healthy:
        print("repaired: deleted and recreated" if state.subscription else "repaired: created")
        if subscription:
            print(subscriptions.describe(subscription))


def _delivery_problems(conn, state) -> list[str]:
    """The subscription's own problems, and the watchdog's verdict on the deliveries."""
    from shared import watchdog

    problems = list(state.problems)
    failing = watchdog.state(conn)
    if failing and state.subscription is not None and not state.subscription.get("retry_started_at"):
        # Calendly sees its deliveries succeed: the refused requests were not Calendly's.
        print(f"note: {watchdog.describe(failing)}; Calendly is not retrying any delivery, so the refused "
              "requests did not come from this subscription (forged, or meant for another relay)")
    elif failing:
        problems.append(watchdog.describe(failing))
    return problems


@_calendly_errors
def cmd_backfill(args) -> int:
    from worker.backfill import backfill

    settings = settings_from_env()
    logs.configure(secrets=settings.secrets)
    now = datetime.now(timezone.utc)
    start = _date_arg(args.start, "--from") if args.start else now
    end = _date_arg(args.end, "--to") + timedelta(days=1) if args.end else now + timedelta(days=60)
    if end <= start:
        raise ConfigError("--to must be after --from")
    conn, client = _calendly(settings, min_interval=defaults.BACKFILL_MIN_INTERVAL)
    print(f"backfill {'(dry run) ' if args.dry_run else ''}of bookings starting "
          f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC", flush=True)
    report = backfill(conn, client, settings, start, end, dry_run=args.dry_run,
                      progress=lambda line: print(f"  {line}", flush=True))
    for skipped in report.skipped:
        print(f"  skipped {skipped}")
    for unusable in report.unusable:
        print(f"  unusable {unusable}")
    return 1 if report.unusable else 0


@_calendly_errors
def cmd_event_types_list(args) -> int:
    from shared.calendly import links

    settings = settings_from_env()
    _, client = _calendly(settings)
    items = links.event_types(client, settings.calendly_scope)
    if args.yaml:
        print(links.config_skeleton(items, settings.calendly_scope), end="")
        return 0
    for item in items:
        print(links.describe(item))
    if not items:
        print(f"no event types in this {settings.calendly_scope} (CALENDLY_SCOPE)")
    return 0


@_calendly_errors
def cmd_links_create(args) -> int:
    from shared.calendly import links

    settings = settings_from_env()
    _, client = _calendly(settings)
    event_type = links.resolve_event_type(client, settings.calendly_scope, args.event_type)
    print(links.create_single_use_link(client, event_type, args.max_events))
    return 0


def cmd_deliveries_list(args) -> int:
    from shared import captures

    settings = settings_from_env()
    items = captures.listing(_redis(settings), args.limit)
    for capture in items:
        payload = capture["body"].get("payload") if isinstance(capture["body"], dict) else None
        who = payload.get("email") if isinstance(payload, dict) else None  # masked when captured
        who = who if isinstance(who, str) else "-"
        print(f"{capture['received_at'][:19]}  {capture['event']!s:<32} {who:<24} {capture['id']}")
    if not items:
        print("no captured deliveries" + ("" if settings.debug_capture else " (RELAY_DEBUG_CAPTURE is off)"))
    return 0


def cmd_deliveries_show(args) -> int:
    from shared import captures

    capture = captures.show(_redis(settings_from_env()), args.id)
    if capture is None:
        print(f"relay: no captured delivery {args.id} (kept {captures.CAPTURE_TTL // 3600} h)", file=sys.stderr)
        return 1
    print(json.dumps(capture, indent=2, ensure_ascii=False))
    return 0


def cmd_deliveries_replay(args) -> int:
    """The original delivery (RQ keeps it with its job), enqueued again under a new job id.
    The lifecycle is idempotent: a replay changes and sends only what is still missing."""
    from rq import Queue
    from rq.job import Job

    from shared import keys

    settings = settings_from_env()
    logs.configure(secrets=settings.secrets)
    conn = _redis(settings)
    [original] = Job.fetch_many([keys.event_job(args.id)], connection=conn)
    if original is None:
        print(f"relay: delivery {args.id} is no longer kept (its job lives 24 h)", file=sys.stderr)
        return 1
    job = Queue(defaults.EVENTS_QUEUE, connection=conn).enqueue_call(
        defaults.PROCESS_EVENT_FUNC, args=original.args, job_id=f"{original.id}-replay-{secrets.token_hex(4)}",
        description=f"{original.description} (replay)", **defaults.EVENT_JOB_OPTIONS)
    log.warning("delivery %s replayed by an operator: dedupe bypassed", args.id,
                extra={"delivery": args.id, "job": job.id})
    print(f"replayed {args.id} as job {job.id}")
    return 0


def _date_arg(text: str, flag: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ConfigError(f"{flag} must be a date like 2026-12-01, got {text!r}") from None


def _redis(settings: Settings):
    from shared.redis_conn import connect_for

    return connect_for(settings)


def cmd_reminders_list(args) -> int:
    from shared.operations import upcoming

    items = upcoming(_redis(settings_from_env()), args.limit)
    for item in items:
        status = f"  [{item.booking_status}]" if item.booking_status else ""
        print(f"{item.due:%Y-%m-%d %H:%M:%S} UTC  {item.kind:<10} {item.detail}{status}  {item.job_id}")
    if not items:
        print("nothing scheduled")
    return 0


def cmd_failed_list(args) -> int:
    from shared.operations import failures

    items = failures(_redis(settings_from_env()))
    for item in items:
        when = f"{item.failed_at:%Y-%m-%d %H:%M:%S}" if item.failed_at else "?"
        print(f"{when}  {item.queue:<11} {item.func:<14} {item.job_id}\n    {item.reason}")
    if not items:
        print("no failed jobs")
    return 0


def cmd_failed_retry(args) -> int:
    from shared.operations import retry_all_failed, retry_failed

    conn = _redis(settings_from_env())
    if args.all:
        ids = retry_all_failed(conn)
        print(f"requeued {len(ids)} job(s)")
        return 0
    if not args.id:
        raise ConfigError("give a job id (see relay failed list) or --all")
    try:
        retry_failed(conn, args.id)
    except LookupError as error:
        print(f"relay: {error}", file=sys.stderr)
        return 1
    print(f"requeued {args.id}")
    return 0


def cmd_config_check(args) -> int:
    from shared.config_check import describe, remote_checks
    from worker import context

    settings = settings_from_env()
    context.current()  # the backends can be built
    for line in describe(settings):
        print(line)
    if not args.remote:
        return 0
    problems = 0
    from shared.calendly import credentials

    conn = _redis(settings) if credentials.kind(settings) else None  # OAuth tokens; results for /admin
    for ok, line in remote_checks(settings, conn):
        print(("ok    " if ok else "FAIL  ") + line)
        problems += not ok
    return 1 if problems else 0


def cmd_crm_setup(args) -> int:
    from worker.provider_errors import ProviderError
    from worker.providers import CRM_BACKENDS

    settings = settings_from_env()
    backend = CRM_BACKENDS[settings.crm_backend]
    try:
        done = backend.setup(settings) if backend is not None else None
        if done is None:
            raise ConfigError(f"CRM_BACKEND={settings.crm_backend} has nothing to set up (relay crm setup creates "
                              "Brevo's attributes: set BREVO_API_KEY)")
        for line in done:
            print(line)
    except ProviderError as error:
        print(f"relay crm setup: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_dev(args) -> int:
    """The first README command lands here: everything in one terminal, zero setup."""
    from honcho.manager import Manager

    from shared import embedded_redis

    env = dict(os.environ)
    for key, value in read_dotenv(Path(".env")).items():
        env.setdefault(key, value)
    settings = settings_from_env(env)
    logs.configure(secrets=settings.secrets)
    if not settings.redis_url:
        env["REDIS_URL"] = embedded_redis.ensure_running(defaults.VAR_DIR)
        print(f"relay dev: embedded Redis at {env['REDIS_URL']} (data in ./{defaults.VAR_DIR}/)", flush=True)
    if not settings.signing_key and not settings.allow_unsigned:
        env["CALENDLY_WEBHOOK_SIGNING_KEY"] = dev_signing_key()
        print(f"relay dev: using the development signing key in ./{defaults.VAR_DIR}/"
              f"{defaults.DEV_SIGNING_KEY_FILE} (relay simulate uses it too)", flush=True)
    env.setdefault("PORT", str(defaults.DEFAULT_PORT))
    if not settings.admin_token:
        env["ADMIN_TOKEN"] = dev_secret(defaults.DEV_ADMIN_TOKEN_FILE)
    print(f"relay dev: admin page http://localhost:{env['PORT']}/admin and /metrics, "
          f"token: {env['ADMIN_TOKEN'] if not settings.admin_token else '(your ADMIN_TOKEN)'}", flush=True)
    # The venv's scripts (gunicorn, relay) must be found even when the venv is not active.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    print(f"relay dev: receiver on http://localhost:{env['PORT']}/webhooks/calendly; "
          f"try: relay simulate invitee.created", flush=True)
    manager = Manager()
    for name, command in PROCESSES.items():
        manager.add_process(name, command, env=env)
    try:
        manager.loop()
    finally:
        embedded_redis.shutdown()
    return manager.returncode or 0


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from honcho.environ import parse

    return parse(path.read_text())


def dev_signing_key() -> str:
    """A random key kept in ./var/, shared by ``relay dev`` and ``relay simulate``."""
    return dev_secret(defaults.DEV_SIGNING_KEY_FILE)


def dev_secret(filename: str) -> str:
    """A random development secret kept in ./var/ (the same on every ``relay dev`` run)."""
    path = Path(defaults.VAR_DIR) / filename
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


# --- simulate -------------------------------------------------------------------------

def cmd_simulate(args) -> int:
    import requests

    from shared.calendly import samples
    from web.signature import HEADER, generate_header

    key = args.key or os.environ.get("CALENDLY_WEBHOOK_SIGNING_KEY") or dev_signing_key()
    url = args.url or f"http://localhost:{os.environ.get('PORT') or defaults.DEFAULT_PORT}/webhooks/calendly"
    deliveries = build_simulated(args, samples)
    status = 0
    for envelope in deliveries:
        raw = samples.body(envelope)
        headers = {"Content-Type": "application/json", HEADER: generate_header(raw, key)}
        try:
            response = requests.post(url, data=raw, headers=headers, timeout=10)
        except requests.RequestException as error:
            print(f"relay simulate: cannot reach {url}: {error}", file=sys.stderr)
            return 1
        print(f"{envelope['event']} → {response.status_code} {response.text.strip()}")
        if response.status_code != 200:
            status = 1
    return status


def build_simulated(args, samples) -> list[dict]:
    """The deliveries for one ``relay simulate`` call; follow-ups reuse the last booking."""
    now = datetime.now(timezone.utc)
    start = now + parse_duration(args.start_in)
    last_path = Path(defaults.VAR_DIR) / LAST_SIMULATED_FILE
    if args.event == "routing_form_submission.created":
        return [samples.envelope(args.event, samples.routing_form_payload(email=args.email, name=args.name))]
    if args.event == "invitee.created" or not last_path.is_file():
        booking = samples.invitee_payload(
            name=args.name, email=args.email, phone=args.phone or None, start=start,
            duration=parse_duration(args.duration), tz=args.timezone,
        )
        created = [samples.envelope("invitee.created", booking)]
        if args.event == "invitee.created":
            _remember(last_path, booking)
            return created
    else:
        booking, created = json.loads(last_path.read_text()), []
    if args.event == "invitee.canceled":
        return created + [samples.envelope(args.event, samples.canceled(booking, reason="Simulated"))]
    if args.event == "reschedule":
        new = samples.rescheduled(booking, start=start)
        _remember(last_path, new)
        old = samples.canceled(booking, rescheduled_to=new["uri"])
        return created + [samples.envelope("invitee.canceled", old), samples.envelope("invitee.created", new)]
    at = now + timedelta(seconds=1)  # a no-show always comes after the booking
    payload = samples.no_show_marked(booking) if args.event == "invitee_no_show.created" else booking
    return created + [samples.envelope(args.event, payload, created_at=at)]


def _remember(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


if __name__ == "__main__":
    sys.exit(main())
