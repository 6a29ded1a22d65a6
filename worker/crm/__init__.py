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
    raise ConfigError(f"CRM_BACKEND={settings.crm_backend} is not supported by this version")


__all__ = ["ContactUpdate", "CrmBackend", "build_crm_backend"]
