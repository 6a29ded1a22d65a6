"""Counters and a histogram in Redis, shared by every process (``/metrics`` reads them).

A family is one Redis hash; a field holds one combination of labels, joined by ``|``:
``relay:stats:sms`` → ``confirm|sent|`` = 12. Every gunicorn worker and every RQ worker
increments the same hash, so the counts are right however many processes run, and
survive their restarts.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone

PREFIX = "relay:stats:"
SEPARATOR = "|"

FAMILIES = {
    "deliveries": ("outcome",),
    "deliveries_unusable": ("reason",),
    "signature_rejections": ("reason",),
    "sms": ("kind", "outcome", "reason"),
    "crm": ("kind", "outcome", "reason"),
    "reconciled": ("what",),
    "recovered": ("what",),
    "rebook_links": ("outcome", "reason"),
    "webhook_checks": ("state",),
    "admin_auth_failures": ("via", "outcome"),
    "calendly_forbidden": ("feature",),
    "engagelab_callbacks": ("outcome",),
    "engagelab_rows": ("kind", "outcome"),
    "messages": ("kind", "state", "reason"),
    "ledger_orphans": ("event",),
    "optouts": ("change", "source"),
}
"""Family → its label names, for the metrics endpoint."""

LATENESS_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Seconds; reminder lateness is bounded by SCHEDULER_INTERVAL when all is well."""


def count(client, family: str, *labels: str, amount: int = 1) -> None:
    """``client`` may be a pipeline: the count then commits with the rest."""
    client.hincrby(PREFIX + family, SEPARATOR.join(labels), amount)


def read(client, family: str) -> dict[tuple[str, ...], int]:
    return {tuple(k.decode().split(SEPARATOR)): int(v) for k, v in client.hgetall(PREFIX + family).items()}


def observe(client, family: str, value: float, buckets: tuple[float, ...] = LATENESS_BUCKETS) -> None:
    """One observation of a histogram: its bucket (non-cumulative), the count and the sum."""
    index = bisect.bisect_left(buckets, value)
    bucket = str(buckets[index]) if index < len(buckets) else "+Inf"
    key = PREFIX + family
    with client.pipeline(transaction=False) as pipe:
        pipe.hincrby(key, bucket, 1)
        pipe.hincrby(key, "_count", 1)
        pipe.hincrbyfloat(key, "_sum", value)
        pipe.execute()


def read_histogram(client, family: str, buckets: tuple[float, ...] = LATENESS_BUCKETS):
    """(cumulative [(upper bound, count)], count, sum), as Prometheus wants it."""
    raw = {k.decode(): float(v) for k, v in client.hgetall(PREFIX + family).items()}
    running, cumulative = 0, []
    for bound in [str(b) for b in buckets] + ["+Inf"]:
        running += int(raw.get(bound, 0))
        cumulative.append((bound, running))
    return cumulative, int(raw.get("_count", 0)), raw.get("_sum", 0.0)


HOURLY_PREFIX = PREFIX + "hourly:"
HOURLY_TTL = 49 * 3600


def hourly(client, name: str, amount: int = 1, now=None) -> None:
    """Per-hour counts kept two days, for the admin page's 24-hour chart."""
    hour = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H")
    client.hincrby(HOURLY_PREFIX + hour, name, amount)
    client.expire(HOURLY_PREFIX + hour, HOURLY_TTL)


def last_hours(client, hours: int = 24, now=None) -> list[tuple[str, dict[str, int]]]:
    """[(hour label, {name: count})] oldest first, the current hour last."""
    now = now or datetime.now(timezone.utc)
    labels = [(now - timedelta(hours=h)) for h in range(hours - 1, -1, -1)]
    with client.pipeline(transaction=False) as pipe:
        for moment in labels:
            pipe.hgetall(HOURLY_PREFIX + moment.strftime("%Y%m%d%H"))
        rows = pipe.execute()
    return [(moment.strftime("%H:00"), {k.decode(): int(v) for k, v in row.items()})
            for moment, row in zip(labels, rows)]


DELIVERED, FAILED = "sms_delivered", "sms_failed"
"""Hourly fields the ledger adds to when a message reaches ``delivered`` or ``failed``
(shared/ledger_script.py), once per message."""


def delivery_ratio(client, hours: int = 24, now=None) -> tuple[float | None, int, int]:
    """(delivered / (delivered + failed), delivered, failed) over the last ``hours`` (the
    current hour and those before it), counting each message once, by when it reached its
    outcome. The ratio is None when no message reached either: nothing to judge yet, which
    is not 0 (all failing) nor 1 (all delivered)."""
    rows = last_hours(client, hours, now)
    delivered = sum(row.get(DELIVERED, 0) for _, row in rows)
    failed = sum(row.get(FAILED, 0) for _, row in rows)
    total = delivered + failed
    return (delivered / total if total else None), delivered, failed
