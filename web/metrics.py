"""``GET /metrics`` in Prometheus text format.

Every figure is read from Redis at scrape time (counters kept by shared/stats.py, queue
depths and registries from RQ and rq-scheduler), so the numbers are the same whichever
gunicorn worker answers and include what every RQ worker did. Behind the admin token as
a bearer header unless METRICS_PUBLIC=1.
"""

from __future__ import annotations

import math

from flask import Blueprint, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from redis.exceptions import RedisError
from rq import Queue
from rq.registry import FailedJobRegistry
from rq_scheduler import Scheduler

from shared import keys, stats
from shared import defaults
from web.auth import admin_refusal
from web.responses import error_response, no_store, relay

blueprint = Blueprint("metrics", __name__)
blueprint.after_request(no_store)

SUBSCRIPTION_STATES = ("ok", "retrying", "disabled", "missing", "unknown")


class RelayCollector:
    def __init__(self, conn):
        self.conn = conn

    def collect(self):
        for family, labels in stats.FAMILIES.items():
            metric = CounterMetricFamily(f"relay_{family}", HELP[family], labels=list(labels))
            for values, count in sorted(stats.read(self.conn, family).items()):
                metric.add_metric(list(_pad(values, len(labels))), count)
            yield metric
        buckets, count, total = stats.read_histogram(self.conn, "reminder_lateness")
        histogram = HistogramMetricFamily("relay_reminder_lateness_seconds",
                                          "How late reminders and follow-ups were sent after their due time")
        histogram.add_metric([], buckets=buckets, sum_value=total)
        yield histogram
        depth = GaugeMetricFamily("relay_queue_depth", "Jobs waiting in each RQ queue", labels=["queue"])
        failed = GaugeMetricFamily("relay_failed_jobs", "Jobs in each queue's failed-job registry", labels=["queue"])
        for name in defaults.WORKER_QUEUES:
            queue = Queue(name, connection=self.conn)
            depth.add_metric([name], queue.count)
            failed.add_metric([name], FailedJobRegistry(queue=queue).count)
        yield depth
        yield failed
        yield GaugeMetricFamily("relay_scheduled_jobs", "Reminders, follow-ups, retries and periodic jobs pending in rq-scheduler",
                                value=self.conn.zcard(Scheduler.scheduled_jobs_key))
        state = (self.conn.hget(keys.WEBHOOK_STATE, "state") or b"unknown").decode()
        subscription = GaugeMetricFamily("relay_webhook_subscription_state",
                                         "1 for the state of this relay's Calendly subscription at the last hourly check",
                                         labels=["state"])
        for candidate in SUBSCRIPTION_STATES:
            subscription.add_metric([candidate], 1 if candidate == state else 0)
        yield subscription
        ratio, _, _ = stats.delivery_ratio(self.conn, defaults.DELIVERY_RATIO_WINDOW_HOURS)
        yield GaugeMetricFamily("relay_sms_delivery_ratio",
                                "Delivered / (delivered + failed) SMS over the last 24 hours, each message counted "
                                "once by when it reached its outcome; NaN when none did yet",
                                value=math.nan if ratio is None else ratio)
        yield GaugeMetricFamily("relay_webhook_verification_failing",
                                "1 while signed deliveries keep failing verification (shared/watchdog.py), "
                                "until one is accepted", value=self.conn.exists(keys.WEBHOOK_VERIFICATION_FAILING))


HELP = {
    "deliveries": "Calendly deliveries received, by outcome",
    "deliveries_unusable": "Accepted deliveries (or bookings read from Calendly) the worker could not use, by field; "
                           "each one's job failed and can be replayed",
    "signature_rejections": "Deliveries refused for their signature, by reason",
    "sms": "SMS by kind and outcome (sent, failed, retry, skipped) with the reason",
    "crm": "CRM writes by kind and outcome with the reason",
    "reconciled": "Repairs made by reconciliation with Calendly",
    "recovered": "Jobs put back on their queue after their worker died mid-job",
    "rebook_links": "Single-use re-booking links created or skipped (with the reason)",
    "webhook_checks": "Hourly webhook subscription checks, by result",
    "admin_auth_failures": "Wrong admin tokens (via the sign-in form or a bearer header) and attempts refused "
                           "while the address was throttled",
    "calendly_forbidden": "Calendly 403s jobs met (a missing scope, the plan), by feature; the job went on without it",
    "engagelab_callbacks": "EngageLab callback requests, by outcome (accepted, duplicate, probe, refused_<reason>)",
    "engagelab_rows": "Rows of EngageLab callbacks the worker processed, by kind (status, reply, notification, "
                      "system_event ...) and outcome (delivered, orphan, stop, reconfirmed, unmatched, unreadable ...)",
    "messages": "SMS ledger entries reaching each state (planned, skipped, sent, delivered, failed, opted_out), "
                "by kind, with the reason of a skip or failure; a message counts once per state it reaches",
    "ledger_orphans": "Provider status rows that matched no message when they arrived, by event",
    "optouts": "Changes to the opt-out list (added, removed), by source",
}


def _pad(values: tuple[str, ...], size: int) -> tuple[str, ...]:
    return (values + ("",) * size)[:size]


@blueprint.get("/metrics", strict_slashes=False)
def metrics():
    shared = relay()
    settings = shared["settings"]
    if not settings.metrics_public:
        refusal = admin_refusal()
        if refusal:
            return refusal
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RelayCollector(shared["redis"]))
    try:
        body = generate_latest(registry)
    except RedisError as error:
        return error_response(503, "redis_unavailable", f"redis is unreachable ({type(error).__name__})")
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")
