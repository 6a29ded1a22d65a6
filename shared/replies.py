"""SMS replies: how their text is read, and the replies that matched nothing, kept masked
for /admin (the newest ``UNMATCHED_REPLIES_KEPT``).

A reply is a word when its whole text is: case, surrounding spaces and punctuation do not
count (``" Stop!"`` is STOP), and a word typed in parts (``opt out``, ``opt-out``) is read
as one (OPTOUT), since people type it so and the FCC counts it as a revocation.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from shared import defaults, keys
from shared.scrub import mask_phone, safe_text

UNMATCHED_KEY = keys.PREFIX + "replies:unmatched"
MAX_KEPT_TEXT = 160
"""One SMS: a longer reply is cut, it is kept to be glanced at, not archived."""

_WORD_CHARACTER = re.compile(r"[^\W_]")
"""A letter or digit. The text between the first and the last is the reply's word: found
by two searches, linear in the text (a pattern anchored at the end, as this was, backtracks
quadratically on a long run of spaces or punctuation followed by a letter)."""
_INNER = re.compile(r"[\s\-_.]+")


@dataclass(frozen=True)
class UnmatchedReply:
    phone: str | None
    """Masked (``+1404*****34``)."""
    text: str
    """Masked: phone numbers, e-mail addresses and quoted values hidden (shared/scrub.py)."""
    at: float
    reason: str
    """Why it matched nothing: ``unknown_word``, ``no_upcoming_booking`` ..."""


def normalize_reply(text: str | None) -> str:
    """``" stop. "`` → ``STOP``; ``"Opt-out"`` → ``OPT-OUT`` (see ``word_forms``)."""
    text = text or ""
    first = _WORD_CHARACTER.search(text)
    if first is None:
        return ""
    last = _WORD_CHARACTER.search(text[::-1])
    return text[first.start():len(text) - last.start()].upper()


def word_forms(text: str | None) -> set[str]:
    """The words a reply may be: as typed (normalized) and with its inner spaces and dashes removed."""
    word = normalize_reply(text)
    return {word, _INNER.sub("", word)} if word else set()


def keep_unmatched(client, phone: str | None, text: str | None, reason: str, at: float | None = None) -> None:
    """Keep a reply that matched nothing, masked; ``client`` may be a pipeline."""
    entry = {"phone": mask_phone(phone), "text": safe_text((text or "")[:MAX_KEPT_TEXT]),
             "at": time.time() if at is None else at, "reason": reason}
    client.lpush(UNMATCHED_KEY, json.dumps(entry, separators=(",", ":")))
    client.ltrim(UNMATCHED_KEY, 0, defaults.UNMATCHED_REPLIES_KEPT - 1)


def unmatched_replies(client, limit: int = defaults.UNMATCHED_REPLIES_KEPT) -> list[UnmatchedReply]:
    """The newest first."""
    replies = []
    for raw in client.lrange(UNMATCHED_KEY, 0, limit - 1):
        data = json.loads(raw)
        replies.append(UnmatchedReply(data.get("phone"), data.get("text", ""), float(data.get("at", 0)),
                                      data.get("reason", "")))
    return replies
