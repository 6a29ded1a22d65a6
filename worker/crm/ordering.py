"""Newest change wins in the CRM, whatever order the jobs run in.

A contact update is a snapshot of the booking at one lifecycle change. A retried older
snapshot (Brevo was down at the time) must not overwrite a newer one, so the time of the
newest change applied to each contact is kept, and an older upsert is skipped. Events
are still recorded: they are history, not state.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from shared import keys
from shared.redis_conn import held
from worker.provider_errors import TransientError

NEWEST_TTL = 90 * 24 * 3600

ADVANCE = """
local current = redis.call('GET', KEYS[1])
if (not current) or tonumber(current) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""


LEASE_SECONDS = 60


class ContactBusy(TransientError):
    """Another worker is writing this contact; this change is retried shortly."""


def _key(email: str) -> str:
    return f"{keys.PREFIX}crm:newest:{keys.digest(email.strip().lower())}"


@contextmanager
def exclusive(conn, email: str):
    """One writer per contact at a time, so the staleness check and the write that
    follows it cannot interleave with another worker's."""
    key = f"{keys.PREFIX}crm:lease:{keys.digest(email.strip().lower())}"
    with held(conn, key, LEASE_SECONDS) as acquired:
        if not acquired:
            raise ContactBusy("relay", "another worker is updating this contact", retry_after=5)
        yield


def is_stale(conn, email: str, changed_at: str) -> bool:
    current = conn.get(_key(email))
    return current is not None and float(current) > datetime.fromisoformat(changed_at).timestamp()


def advance(conn, email: str, changed_at: str) -> None:
    conn.eval(ADVANCE, 1, _key(email), datetime.fromisoformat(changed_at).timestamp(), NEWEST_TTL)
