"""The Procfile's processes: ``relay worker``, ``relay scheduler`` and the release phase's
``relay release`` (``relay dev`` runs them all: worker/cli/dev.py)."""

from __future__ import annotations

import logging
import sys

import click

from shared import defaults
from worker.cli import dev
from worker.cli.context import Relay, pass_relay

log = logging.getLogger("relay.cli")


@click.command()
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@pass_relay
def worker(relay: Relay, burst: bool) -> int:
    """Run an RQ worker on the relay's queues (Procfile worker)."""
    from rq import Queue

    from shared.redis_conn import wait_until_reachable
    from worker import context, jobs  # noqa: F401  (imported once here, not in every job)
    from worker.rq_worker import WORKER_CLASSES, QuietSuccess

    settings = relay.settings
    relay.log_to_stderr()
    context.current()  # builds the backends now: bad credentials stop the process here
    wait_until_reachable(relay.redis, "worker")
    queues = [Queue(name, connection=relay.redis) for name in defaults.WORKER_QUEUES]
    rq_worker = WORKER_CLASSES[settings.worker_class](queues, connection=relay.redis)
    logging.getLogger("rq.worker").addFilter(QuietSuccess())
    log.info("worker starting", extra={"queues": list(defaults.WORKER_QUEUES), "worker_class": settings.worker_class})
    if settings.sms_backend != "console" and not settings.sms_countries:
        log.warning("SMS_COUNTRIES is not set: invitees' mobiles in every country are texted, the dearest "
                    "included; list the countries you serve (e.g. SMS_COUNTRIES=US,GB,DE)")
    rq_worker.work(burst=burst, logging_level="INFO")
    return 0


@click.command()
@pass_relay
def scheduler(relay: Relay) -> int:
    """Run rq-scheduler's loop and the periodic checks (Procfile scheduler)."""
    from shared.redis_conn import wait_until_reachable
    from worker.config_fingerprint import replan_in_background
    from worker.maintenance import register_periodic_jobs
    from worker.scheduling import BatchScheduler

    relay.log_to_stderr()
    wait_until_reachable(relay.redis, "scheduler")
    batch = BatchScheduler(connection=relay.redis, interval=relay.settings.scheduler_interval)
    register_periodic_jobs(batch, relay.settings)
    log.info("scheduler starting", extra={"interval": relay.settings.scheduler_interval})
    replan_in_background(relay.redis, relay.settings)  # pending reminders follow a changed configuration
    batch.run()
    return 0


@click.command()
@pass_relay
def release(relay: Relay) -> int:
    """Before a release goes live (Procfile release:): check the configuration and Redis,
    create missing Brevo attributes."""
    from worker.cli.release import ReleaseFailed, run

    try:
        run(relay.settings)
    except ReleaseFailed as error:
        print(f"relay release: {error}", file=sys.stderr)
        return 1
    return 0


COMMANDS = (dev.dev, worker, scheduler, release)
