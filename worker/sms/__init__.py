"""SMS backends, one module per provider: ``console`` (development) and ``engagelab``
(worker/providers.py finds them by SMS_BACKEND)."""

from worker.sms.base import OutboundSms, SmsBackend

__all__ = ["OutboundSms", "SmsBackend"]
