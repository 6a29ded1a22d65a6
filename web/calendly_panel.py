"""The Calendly part of /admin: a banner while deliveries fail verification
(shared/watchdog.py), and what each Calendly feature may do, the table of ``relay config
check --remote`` as last checked (hourly, or by that command) or as a job last met it."""

from __future__ import annotations

import time

from flask import render_template_string
from markupsafe import Markup

from shared import watchdog
from shared.calendly import features


def panel(conn) -> Markup:
    failing = watchdog.state(conn)
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(failing["since"])) if failing else None
    return Markup(render_template_string(PANEL, failing=failing, since=since, causes=watchdog.CAUSES,
                                         rows=features.recorded(conn), ok=features.OK))


PANEL = """
{% if failing %}<div id="verification-failing" class="bad alarm">
 <strong>Calendly deliveries are failing signature verification</strong> since {{ since }}
 ({{ failing.refusals }} refused, none accepted since). Likely causes: {{ causes }}.
 Calendly disables the subscription after 24 hours of failures; <code>relay webhooks check</code> says more.
</div>{% endif %}
<h2>Calendly access</h2>
<table id="calendly-features"><tr><th>feature</th><th>scope</th><th>calls</th><th>last verdict</th><th>when (UTC)</th></tr>
{% for row in rows %}<tr><td>{{ row.feature.title }}</td><td><code>{{ row.feature.scopes|join(', ') or '–' }}</code></td>
<td class="muted">{{ row.feature.endpoints }}</td>
<td class="{{ '' if row.outcome in (None, ok) or not row.needed else 'bad' }}">{{ row.outcome or 'not checked yet' }}{% if not row.needed and row.outcome and row.outcome != ok %} (not needed){% endif %}</td>
<td class="muted">{{ (row.at or '')[:19] }}{% if row.source == 'job' %} (met by a job){% endif %}</td></tr>
{% endfor %}</table>
<p class="muted">Checked hourly and by <code>relay config check --remote</code>.</p>
"""
