"""Languages: which locale a person gets, which template serves a locale, and text that
stays in GSM-7.

- ``LOCALE`` is the default; ``LOCALE_BY_COUNTRY`` (``FR=fr_FR,DE=de_DE``) picks one by the
  region of the invitee's phone number; an event type's ``locale`` in RELAY_CONFIG
  overrides both (worker/messages.py asks in that order).
- A template in RELAY_CONFIG is a mapping from locale to id, with ``default``; the most
  specific key wins: ``fr_CA``, then ``fr``, then ``default``.
"""

from __future__ import annotations

import unicodedata
from typing import Mapping

import phonenumbers
from babel import Locale, UnknownLocaleError

from shared.phone import parsed

DEFAULT_KEY = "default"
"""The key of a template mapping that serves every locale without a key of its own."""


def canonical_locale(text: str) -> str:
    """``fr_FR``, ``pt_BR``, ``zh_Hant_TW`` as babel spells them; ValueError for a locale
    babel does not know (CLDR's)."""
    try:
        return str(Locale.parse(text.strip()))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"{text!r} is not a locale such as en_US, fr or de_DE") from None


def parse_locale_map(text: str) -> dict[str, str]:
    """``FR=fr_FR,DE=de_DE,BR=pt_BR`` → {region: locale}; ValueError naming the bad part."""
    mapping: dict[str, str] = {}
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        region, sep, locale = (item.strip() for item in part.partition("="))
        if not sep or not region or not locale:
            raise ValueError(f"{part!r} is not COUNTRY=locale, as in FR=fr_FR")
        region = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{region!r} is not an ISO country code phonenumbers knows (such as FR, DE, BR)")
        mapping[region] = canonical_locale(locale)
    if not mapping:
        raise ValueError("must be pairs like FR=fr_FR,DE=de_DE")
    return mapping


def fallbacks(locale: str) -> tuple[str, ...]:
    """Keys to try for ``locale``, most specific first: ``fr_CA`` → (fr_CA, fr, default);
    ``zh_Hant_TW`` → (zh_Hant_TW, zh_Hant, zh, default)."""
    parsed = Locale.parse(locale)
    keys = [str(parsed)]
    if parsed.territory and parsed.script:
        keys.append(f"{parsed.language}_{parsed.script}")
    if parsed.territory or parsed.script:
        keys.append(parsed.language)
    return (*dict.fromkeys(keys), DEFAULT_KEY)


def pick(choices: Mapping[str, str | None], locale: str) -> tuple[bool, str | None, str | None]:
    """(found, value, key): the most specific entry of ``choices`` for ``locale``; found is
    False when no key fits (not even ``default``), and the caller asks the next level."""
    for key in fallbacks(locale):
        if key in choices:
            return True, choices[key], key
    return False, None, None


def locale_for_phone(phone: str | None, by_country: Mapping[str, str]) -> str | None:
    """The locale LOCALE_BY_COUNTRY gives the region of an E.164 number, or None."""
    if not phone or not by_country:
        return None
    number = parsed(phone)
    if number is None:
        return None
    return by_country.get(phonenumbers.region_code_for_number(number) or "")


GSM_SPACE = " "


def gsm_text(text: str) -> str:
    """Every space character other than the plain one (CLDR's narrow no-break space before
    AM/PM and inside French numbers, the no-break space, thin spaces ...) made a plain
    space. GSM-7 has only the plain one: any other turns a whole SMS into UCS-2, 70
    characters a segment instead of 160. Letters a locale needs outside GSM-7 stay."""
    return "".join(GSM_SPACE if unicodedata.category(char) == "Zs" else char for char in text)
