"""The development SMS backend: one structured log line per message, nothing sent.

Like Django's console e-mail backend, it shows what would go out: the kind, the template
and its params, with the number and the name masked as in every log line. The message
itself rides along on the record as ``_sms`` (underscore fields never reach the JSON line),
for tests in the same process."""

from __future__ import annotations

import logging

from shared.keys import digest
from shared.scrub import mask_name, mask_phone
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
                "params": {**message.params, **({"name": mask_name(message.params["name"])}
                                                 if message.params.get("name") else {})},
                "template": message.template_id,
                "message_id": message_id,
                "_sms": message,
            },
        )
        return message_id
