"""SMS backends: ``console`` (development) and ``engagelab``."""

from __future__ import annotations

from shared.settings import ConfigError, Settings
from worker.sms.base import OutboundSms, SmsBackend


def build_sms_backend(settings: Settings) -> SmsBackend:
    if settings.sms_backend == "console":
        from worker.sms.console import ConsoleSmsBackend

        return ConsoleSmsBackend()
    if settings.sms_backend == "engagelab":
        from worker.sms.engagelab import EngageLabSmsBackend

        return EngageLabSmsBackend(
            settings.engagelab_api_url, settings.engagelab_dev_key, settings.engagelab_dev_secret
        )
    raise ConfigError(f"SMS_BACKEND={settings.sms_backend} is not supported")


__all__ = ["OutboundSms", "SmsBackend", "build_sms_backend"]
