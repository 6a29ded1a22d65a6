"""What every ``relay`` command gets: the settings and Redis, from one place."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Mapping

import click

from shared import logs
from shared.settings import Settings


class Relay:
    """What a command needs, made when it first asks: the settings (with the providers',
    worker/providers.py) and a Redis client (REDIS_URL, or the embedded server)."""

    def __init__(self, env: Mapping[str, str] | None = None):
        self.env = env

    @cached_property
    def settings(self) -> Settings:
        from shared import ledger
        from worker.providers import settings_from_env

        settings = settings_from_env(self.env)
        ledger.configure(settings.ledger_retention)
        return settings

    @cached_property
    def redis(self):
        from shared.redis_conn import connect_for

        return connect_for(self.settings)

    def calendly(self, **options: Any):
        """Calendly's API client with whichever credentials the relay has (a personal token
        or the OAuth connection kept in Redis)."""
        from shared.calendly.oauth import api_client

        return api_client(self.redis, self.settings, **options)

    def log_to_stderr(self) -> None:
        """For the commands that log as the processes do (secrets masked)."""
        logs.configure(secrets=self.settings.secrets, log_format=self.settings.log_format)


pass_relay = click.make_pass_decorator(Relay, ensure=True)
