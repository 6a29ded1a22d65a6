"""The development CRM backend: one structured log line per contact change."""

from __future__ import annotations

import logging

from shared.scrub import mask_email, mask_phone
from worker.crm.base import ContactUpdate, CrmBackend

log = logging.getLogger("relay.crm.log")


class LogCrmBackend(CrmBackend):
    name = "log"

    def record_event(self, update: ContactUpdate) -> None:
        if update.event:
            log.debug("crm event %s", update.event, extra={"crm_event": update.event})

    def upsert(self, update: ContactUpdate) -> None:
        contact = update.contact
        log.info(
            "crm %s %s",
            update.kind,
            contact.get("status") or update.event,  # a reconfirmation changes no status
            extra={
                "crm_kind": update.kind,
                "email": mask_email(contact.get("email")),
                "phone": mask_phone(contact.get("phone")),
                "status": contact.get("status"),
                "event_type": contact.get("event_type_name"),
                "scheduled_at": contact.get("scheduled_at"),
                "crm_event": update.event,
                "answers": len(contact.get("answers") or ()),
                "lists": contact.get("lists") or [],
            },
        )

    def mark_sms_blacklisted(self, email: str | None, phone: str, blacklisted: bool) -> None:
        log.info("crm contact sms %s", "blocked" if blacklisted else "unblocked",
                 extra={"email": mask_email(email), "phone": mask_phone(phone), "sms_blacklisted": blacklisted})
