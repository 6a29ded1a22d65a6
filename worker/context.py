"""What a job needs from its process: settings and backends, built once per process.

``relay worker`` builds them at start (so a misconfiguration stops it before any job
runs); a job started by a plain ``rq worker`` builds them on first use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from shared import ledger
from shared.settings import Settings
from worker import providers
from worker.crm import CrmBackend
from worker.sms import SmsBackend


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    sms: SmsBackend
    crm: CrmBackend | None


@lru_cache(maxsize=1)
def current() -> WorkerContext:
    settings = providers.settings_from_env()
    ledger.configure(settings.ledger_retention)
    return WorkerContext(settings, providers.sms_backend(settings), providers.crm_backend(settings))


def reset() -> None:
    """Forget the cached context (tests change the environment between cases)."""
    current.cache_clear()
