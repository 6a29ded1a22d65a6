"""The registry of SMS and CRM backends: SMS_BACKEND and CRM_BACKEND name one of these.

Adding a provider is a module of its own (worker/provider.py says what it declares) and a
line here. The first of each table whose credentials are set is the default; the last
SMS and CRM entries, which need none, are the development defaults.

The worker, the scheduler and every ``relay`` command read their settings through
``settings_from_env``, which asks each provider for its own variables. The receiver does
not: it never sends, and never imports worker code (``Settings.from_env`` alone).
"""

from __future__ import annotations

from typing import Iterator, Mapping

from shared.environment import Environment
from shared.settings import ProviderSettings, Settings
from worker.crm.base import CrmBackend
from worker.crm.brevo import BrevoCrmBackend
from worker.crm.log import LogCrmBackend
from worker.provider import Provider
from worker.sms.base import SmsBackend
from worker.sms.console import ConsoleSmsBackend
from worker.sms.engagelab import EngageLabSmsBackend

SMS_BACKENDS: dict[str, type[SmsBackend]] = {
    "engagelab": EngageLabSmsBackend,
    "console": ConsoleSmsBackend,
}
CRM_BACKENDS: dict[str, type[CrmBackend] | None] = {
    "brevo": BrevoCrmBackend,
    "log": LogCrmBackend,
    "off": None,  # no CRM at all
}
DEVELOPMENT = {"SMS_BACKEND": "console", "CRM_BACKEND": "log"}
"""What each variable defaults to when no provider's credentials are set."""


def settings_from_env(source: Mapping[str, str] | None = None) -> Settings:
    """The settings with the providers' own (``source``: the environment, as for
    ``Settings.from_env``)."""
    return Settings.from_env(source, providers=read_providers)


def read_providers(env: Environment) -> ProviderSettings:
    """Every provider's settings (a malformed one is refused even when another is chosen),
    the chosen backends, and the chosen ones' credentials checked."""
    tables = {"SMS_BACKEND": SMS_BACKENDS, "CRM_BACKEND": CRM_BACKENDS}
    configs = {name: provider.read_settings(env) for table in tables.values()
               for name, provider in table.items() if provider is not None}
    chosen = {}
    for variable, table in tables.items():
        configured = next((name for name, provider in table.items()
                           if provider is not None and provider.configured(configs[name])), DEVELOPMENT[variable])
        chosen[variable] = env.read("choice", variable, configured, choices=tuple(table))
    for variable, table in tables.items():
        provider = table[chosen[variable]]
        if provider is not None:
            provider.check_settings(configs[chosen[variable]], variable)
    secrets = tuple(secret for table in tables.values() for name, provider in table.items() if provider is not None
                    for secret in provider.secrets(configs[name]))
    return ProviderSettings(chosen["SMS_BACKEND"], chosen["CRM_BACKEND"],
                            {name: config for name, config in configs.items() if config is not None}, secrets)


def sms_backend(settings: Settings) -> SmsBackend:
    return SMS_BACKENDS[settings.sms_backend].from_settings(settings)


def crm_backend(settings: Settings) -> CrmBackend | None:
    provider = CRM_BACKENDS[settings.crm_backend]
    return provider.from_settings(settings) if provider is not None else None


def chosen(settings: Settings) -> list[type[Provider]]:
    """The providers this configuration sends through."""
    return [provider for provider in (SMS_BACKENDS[settings.sms_backend], CRM_BACKENDS[settings.crm_backend])
            if provider is not None]


def remote_checks(settings: Settings) -> Iterator[tuple[bool, str]]:
    """``relay config check --remote``: each chosen provider's own check."""
    for provider in chosen(settings):
        yield from provider.remote_checks(settings)


def setup_crm(settings: Settings) -> list[str] | None:
    """``relay crm setup`` for the chosen CRM (one line per thing done); None when it has
    nothing to set up. A provider's refusal (ProviderError) goes to the caller."""
    provider = CRM_BACKENDS[settings.crm_backend]
    return provider.setup(settings) if provider is not None else None


def setup_hint(settings: Settings, error: Exception) -> str:
    """What the chosen CRM says to check when its setup failed with ``error``."""
    provider = CRM_BACKENDS[settings.crm_backend]
    return provider.setup_hint(error) if provider is not None else ""
