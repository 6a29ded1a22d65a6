"""The unmatched replies part of /admin: SMS replies that were no stop, start or confirm
word, as the callbacks worker keeps them (masked, newest first)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from flask import render_template_string
from markupsafe import Markup

from shared import defaults, keys


def unmatched_replies(conn, limit: int) -> list[dict]:
    """The last ``limit`` replies: ``{"at", "phone", "text", "reason"}``, masked when kept."""
    replies = []
    for raw in conn.lrange(keys.UNMATCHED_REPLIES, 0, limit - 1):
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # not one of ours; the list is for reading, one bad entry hides nothing else
        if isinstance(entry, dict):
            replies.append(entry)
    return replies


def when(value) -> str:
    """Unix seconds or an ISO 8601 time, as UTC."""
    try:
        moment = (datetime.fromtimestamp(float(value), timezone.utc) if isinstance(value, (int, float))
                  else datetime.fromisoformat(str(value)))
    except (TypeError, ValueError, OverflowError):
        return str(value or "")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def panel(conn) -> Markup:
    replies = unmatched_replies(conn, defaults.ADMIN_REPLIES_SHOWN)
    return Markup(render_template_string(PANEL, replies=replies, when=when))


PANEL = """
<h2>Unmatched replies</h2>
<table id="unmatched-replies"><tr><th>received (UTC)</th><th>from</th><th>text</th><th>why unmatched</th></tr>
{% for r in replies %}<tr><td>{{ when(r.at) }}</td><td>{{ r.phone or '' }}</td><td>{{ r.text or '' }}</td><td class="muted">{{ r.reason or '' }}</td></tr>
{% else %}<tr><td colspan="4" class="muted">none</td></tr>{% endfor %}
</table>
<p class="muted">Replies that were no stop, start or confirm word, masked; the last 200 are kept.</p>
"""
