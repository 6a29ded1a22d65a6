"""The unmatched replies part of /admin: SMS replies that were no stop, start or confirm
word, or came from a number without an upcoming booking, as the callbacks worker keeps
them (shared/replies.py: masked, newest first)."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import render_template_string
from markupsafe import Markup

from shared import defaults
from shared.replies import unmatched_replies


def when(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def panel(conn) -> Markup:
    replies = unmatched_replies(conn, defaults.ADMIN_REPLIES_SHOWN)
    return Markup(render_template_string(PANEL, replies=replies, when=when, kept=defaults.UNMATCHED_REPLIES_KEPT))


PANEL = """
<h2>Unmatched replies</h2>
<table id="unmatched-replies"><tr><th>received (UTC)</th><th>from</th><th>text</th><th>why unmatched</th></tr>
{% for r in replies %}<tr><td>{{ when(r.at) }}</td><td>{{ r.phone or '' }}</td><td>{{ r.text }}</td><td class="muted">{{ r.reason }}</td></tr>
{% else %}<tr><td colspan="4" class="muted">none</td></tr>{% endfor %}
</table>
<p class="muted">SMS replies that were no stop, start or confirm word, or had no upcoming booking to confirm,
masked; the last {{ kept }} are kept.</p>
"""
