"""A reply (``response.event == "uplink_message"``): its whole text read as a word
(shared/replies.py). A stop word puts the sender on the opt-out list, a start word takes
it off (worker/optout.py), HELP is logged, a confirm word reconfirms the sender's nearest
upcoming booking (worker/callbacks/reconfirm.py). Anything else is kept, masked, among
the unmatched replies /admin shows."""

from __future__ import annotations

import logging
from datetime import datetime

from shared import defaults
from shared.replies import keep_unmatched, word_forms
from shared.scrub import mask_phone
from shared.settings import Settings
from worker import optout
from worker.callbacks.reconfirm import reconfirm
from worker.callbacks.rows import UnreadableRow, callback_phone, section

log = logging.getLogger("relay.worker")


def handle_reply(conn, row: dict, settings: Settings, now: datetime) -> str:
    data = section(section(row, "response"), "response_data")
    text = data.get("body")
    if not isinstance(text, str):
        raise UnreadableRow("response.response_data.body is not text")
    phone = callback_phone(data.get("from"))
    if phone is None:
        keep_unmatched(conn, None, text, "unreadable_number", now.timestamp())
        return "unmatched"
    words, config = word_forms(text), settings.callbacks
    if words & config.stop_words:
        optout.opt_out(conn, phone, "reply", settings)
        return "stop"
    if words & config.start_words:
        optout.opt_in(conn, phone, "reply", settings)
        return "start"
    if words & set(defaults.HELP_WORDS):
        log.info("sms reply from %s asks for help", mask_phone(phone), extra={"from": mask_phone(phone)})
        return "help"
    if words & config.confirm_words:
        return reconfirm(conn, phone, text, settings, now)
    keep_unmatched(conn, phone, text, "unknown_word", now.timestamp())
    log.info("sms reply from %s matched no word; kept for /admin", mask_phone(phone),
             extra={"from": mask_phone(phone)})
    return "unmatched"
