"""The development SMS backend: one structured log line per message, nothing sent.

Like Django's console e-mail backend, it shows what would go out."""

from __future__ import annotations

import logging

from shared.keys import digest
from shared.logs import mask_phone
from worker.sms.base import OutboundSms, SmsBackend

log = logging.getLogger("relay.sms.console")


class ConsoleSmsBackend(SmsBackend):
    name = "console"

    def send(self, message: OutboundSms) -> str:
        message_id = f"console-{digest(message.key)[:16]}"
        log.info(
            "sms %s to %s",
            message.kind,
            mask_phone(message.to),
            extra={
                "sms_kind": message.kind,
                "to": mask_phone(message.to),
                "params": message.params,
                "template": message.template_id,
                "message_id": message_id,
            },
        )
        return message_id
