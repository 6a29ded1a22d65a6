"""SMS backends: ``console`` (development) and ``engagelab``."""

from __future__ import annotations

from shared.settings import ConfigError, Settings
from worker.sms.base import OutboundSms, SmsBackend


def build_sms_backend(settings: Settings) -> SmsBackend:
    if settings.sms_backend == "console":
        from worker.sms.console import ConsoleSmsBackend

        return ConsoleSmsBackend()
    raise ConfigError(f"SMS_BACKEND={settings.sms_backend} is not supported by this version")


__all__ = ["OutboundSms", "SmsBackend", "build_sms_backend"]
