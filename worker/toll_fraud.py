"""What keeps a booking form from becoming a way to spend the operator's SMS budget.

An invitee chooses the number the relay texts, and every booking costs several paid
messages: SMS pumping (numbers at premium or expensive rates, many bookings) is the usual
abuse of free SMS features (shared/research/real-world.md). So the relay texts only numbers
that can receive an SMS, in the countries the operator allows, and no number more than
SMS_DAILY_CAP_PER_NUMBER times in any 24 hours. HOST_PHONE, set by the operator, is exempt.

Every refusal is a skip with its reason (``premium_rate``, ``not_mobile``,
``country_not_allowed``, ``daily_cap``), counted in ``relay_sms_total`` and logged with the
number masked.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

from shared import defaults, keys, optouts
from shared.phone import parsed
from shared.scrub import mask_phone
from shared.settings import Settings

log = logging.getLogger("relay.worker")

PREMIUM_RATE = "premium_rate"
NOT_MOBILE = "not_mobile"
COUNTRY_NOT_ALLOWED = "country_not_allowed"
DAILY_CAP = "daily_cap"
REASONS = frozenset({PREMIUM_RATE, NOT_MOBILE, COUNTRY_NOT_ALLOWED, DAILY_CAP})

NON_GEOGRAPHIC = "001"
"""Satellite phones and international networks (+881, +882, +883 ...): no booking needs
them and they are among the dearest destinations, so they are never texted."""

TEXTABLE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
"""What ``phonenumbers`` can tell is a mobile. Where a country's plan does not separate
mobiles from fixed lines (the US, Canada), numbers are FIXED_LINE_OR_MOBILE and pass; where
it separates VoIP, personal, pager or shared-cost ranges, those are refused."""


def refusal(e164: str, settings: Settings) -> str | None:
    """Why the number must not be texted, or None. For invitee numbers (already E.164)."""
    described = _region_and_kind(e164)
    if described is None:
        return NOT_MOBILE
    region, kind = described
    if region == NON_GEOGRAPHIC or (settings.sms_countries and region not in settings.sms_countries):
        return COUNTRY_NOT_ALLOWED
    if kind == PhoneNumberType.PREMIUM_RATE:
        return PREMIUM_RATE
    if kind not in TEXTABLE:
        return NOT_MOBILE
    return None


@lru_cache(maxsize=4096)
def _region_and_kind(e164: str) -> tuple[str, int] | None:
    """Cached: every message to a number asks again (libphonenumber's matching of the
    number's type against its country's ranges is the dear part)."""
    number = parsed(e164)
    if number is None:
        return None
    return phonenumbers.region_code_for_number(number), phonenumbers.number_type(number)


GUARD_SEND = f"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 'opted_out' end
if ARGV[3] == '' then return false end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[4]))
if redis.call('ZSCORE', KEYS[3], ARGV[6]) then return false end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return '{DAILY_CAP}' end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return false
"""
"""Sent with a message's send-once claim (worker/idempotency.py), in its round trip, and
only if the claim was taken (the lease holds this run's value): the opt-out list, then,
when capped, the number's daily cap. One sorted set per number holds the messages sent to
it in the last window, by time: what is older is forgotten, then a slot is taken if fewer
than the cap remain; a message that already holds one (a retry of the same message) keeps
it. One script: two workers cannot both take the last slot. Answers the refusal's reason,
or nothing."""


def guard_send(pipe, lease: tuple[str, str], number: str, message_key: str, cap: int | None,
               now: float | None = None) -> None:
    """Queue ``GUARD_SEND`` on the claim's pipeline (``refuse_if``)."""
    slot = [now if now is not None else time.time(), defaults.SMS_CAP_WINDOW, cap, keys.digest(message_key)]
    pipe.eval(GUARD_SEND, 3, lease[0], keys.OPTOUTS, _key(number), lease[1], optouts.field(number),
              *(slot if cap is not None else ["", "", "", ""]))


def give_back(conn, number: str, message_key: str) -> None:
    """The provider refused the message for good: it never went out, so it does not count."""
    conn.zrem(_key(number), keys.digest(message_key))


def _key(number: str) -> str:
    return f"{keys.PREFIX}sms:cap:{keys.digest(number)}"


def log_refusal(what: str, reason: str, phone: str | None) -> None:
    """A number the relay will not text: worth a warning, masked."""
    log.warning("sms to %s refused: %s", mask_phone(phone), reason,
                extra={"what": what, "reason": reason, "to": mask_phone(phone)})
