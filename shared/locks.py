"""A Redis lease: one holder at a time across every process, released only by its owner."""

from __future__ import annotations

import secrets
import time
from contextlib import contextmanager

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LockBusy(Exception):
    """Someone else holds the lease (still, after ``wait`` seconds)."""


@contextmanager
def held(conn, key: str, ttl_seconds: float, wait: float = 0.0, poll: float = 0.05):
    """Hold ``key`` for at most ``ttl_seconds`` (the lease expires if its holder dies)."""
    owner = secrets.token_hex(8)
    deadline = time.monotonic() + wait
    while not conn.set(key, owner, nx=True, px=int(ttl_seconds * 1000)):
        if time.monotonic() >= deadline:
            raise LockBusy(key)
        time.sleep(poll)
    try:
        yield
    finally:
        conn.eval(RELEASE, 1, key, owner)
