"""Counters in Redis, shared by every process (the metrics endpoint reads them).

One hash per counter family, a field per label: ``relay:stats:skipped`` → ``no_phone``.
Every process increments the same hash, so the counts are right however many gunicorn
workers and RQ workers run."""

from __future__ import annotations

PREFIX = "relay:stats:"


def count(client, family: str, label: str, amount: int = 1) -> None:
    """``client`` may be a pipeline: the count then commits with the rest."""
    client.hincrby(PREFIX + family, label, amount)


def read(client, family: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(PREFIX + family).items()}
