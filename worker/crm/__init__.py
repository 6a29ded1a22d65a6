"""CRM backends: ``log`` (development), ``brevo``, or ``off``."""

from __future__ import annotations

from shared.settings import ConfigError, Settings
from worker.crm.base import ContactUpdate, CrmBackend


def build_crm_backend(settings: Settings) -> CrmBackend | None:
    if settings.crm_backend == "off":
        return None
    if settings.crm_backend == "log":
        from worker.crm.log import LogCrmBackend

        return LogCrmBackend()
    if settings.crm_backend == "brevo":
        from worker.crm.brevo import BrevoClient, BrevoCrmBackend
        from worker.crm.fields import effective_mapping

        return BrevoCrmBackend(
            BrevoClient(settings.brevo_api_url, settings.brevo_api_key),
            effective_mapping(settings.relay_config.field_mapping),
            settings.default_timezone,
        )
    raise ConfigError(f"CRM_BACKEND={settings.crm_backend} is not supported")


__all__ = ["ContactUpdate", "CrmBackend", "build_crm_backend"]
