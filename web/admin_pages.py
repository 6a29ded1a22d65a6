"""The templates of web/admin_messages.py's pages. Jinja escapes every value (Flask's
render_template_string autoescapes); the pages carry no script and no style attribute:
the Content-Security-Policy allows only web/admin.py's one stylesheet."""

from web.admin import STYLE

NAV = """
<p class="nav"><a href="/admin">admin</a> · <a href="/admin/messages">messages</a>
 · <a href="/admin/messages?state=failed">failed</a> · <a href="/admin/messages?state=skipped">skipped</a></p>
"""

NOT_FOUND = """<title>not found · calendly-relay admin</title>""" + STYLE + NAV + """
<p class="bad" id="not-found">{{ message }}</p>
"""

CHOICES = """<title>bookings · calendly-relay admin</title>""" + STYLE + NAV + """
<h1>Bookings with that e-mail address</h1>
<table id="choices"><tr><th>start (UTC)</th><th>status</th><th>event type</th><th>invitee</th></tr>
{% for digest, r in records %}<tr><td><a href="/admin/bookings/{{ digest }}">{{ when(r.start) or 'no start' }}</a></td>
<td>{{ r.status }}</td><td>{{ r.event_type_name or '' }}</td><td>{{ mask_email(r.email) }}</td></tr>
{% endfor %}</table>
"""

TIMELINE = """
<table class="timeline"><tr><th>at (UTC)</th><th>event</th><th>details</th></tr>
{% for e in m.events|sort(attribute='at') %}<tr><td>{{ when(e.at) }}</td>
<td class="{{ 'bad' if e.name in ('failed', 'skipped', 'opted_out') else '' }}">{{ e.name }}</td>
<td class="muted">{{ detail(e.detail) }}</td></tr>
{% else %}<tr><td colspan="3" class="muted">no event recorded</td></tr>{% endfor %}
</table>
"""

BOOKING = """<title>booking · calendly-relay admin</title>""" + STYLE + NAV + """
<h1>Booking</h1>
<table id="record">
<tr><th>invitee</th><td><code>{{ record.invitee_uri }}</code></td></tr>
<tr><th>status</th><td id="booking-status">{{ record.status }}</td></tr>
<tr><th>start (UTC)</th><td>{{ when(record.start) }}{% if record.timezone %} <span class="muted">(invitee in {{ record.timezone }})</span>{% endif %}</td></tr>
<tr><th>event type</th><td>{{ record.event_type or '' }}</td></tr>
<tr><th>name</th><td>{{ record.name or '' }}</td></tr>
<tr><th>e-mail</th><td>{{ record.email or '' }}</td></tr>
<tr><th>phone</th><td>{{ record.phone or '' }}{% if record.phone_issue %} <span class="bad">{{ record.phone_issue }}</span>{% endif %}</td></tr>
{% if record.reconfirmed_at %}<tr><th>reconfirmed (UTC)</th><td id="reconfirmed">{{ when(record.reconfirmed_at) }}</td></tr>{% endif %}
<tr><th>last event</th><td>{{ record.last_event or '' }} <span class="muted">{{ when(record.last_event_at) }}</span></td></tr>
{% if record.old_invitee %}<tr><th>rescheduled from</th><td><a href="{{ booking_url(record.old_invitee) }}">the earlier booking</a></td></tr>{% endif %}
{% if record.new_invitee %}<tr><th>rescheduled to</th><td><a href="{{ booking_url(record.new_invitee) }}">the new booking</a></td></tr>{% endif %}
</table>

<h2>Deliveries</h2>
<table id="booking-deliveries"><tr><th>received (UTC)</th><th>event</th><th>processing</th><th>delivery</th></tr>
{% for d in deliveries %}<tr><td>{{ d.at[:19] }}</td><td>{{ d.event }}</td><td>{{ d.status }}</td><td><code>{{ d.id }}</code></td></tr>
{% else %}<tr><td colspan="4" class="muted">none among the recent deliveries</td></tr>{% endfor %}
</table>

<h2>Messages</h2>
{% for m in messages %}<div class="message" id="message-{{ m.id }}">
<h3>{{ m.kind }}{% if offset(m) %} · {{ offset(m) }}{% endif %} · <span class="{{ 'bad' if m.state in ('failed', 'skipped', 'opted_out') else '' }}">{{ m.state }}</span>{% if m.reason %} <span class="bad">({{ m.reason }})</span>{% endif %}</h3>
<p class="muted">message <code>{{ m.id }}</code> · to {{ m.to or '–' }} · template {{ m.template or '–' }}{% if m.due %} · due {{ when(m.due) }} UTC{% endif %}{% if m.provider_id %} · EngageLab <code>{{ m.provider_id }}</code>{% endif %}</p>
""" + TIMELINE + """</div>
{% else %}<p class="muted" id="no-messages">no message in the ledger for this booking</p>{% endfor %}
"""

MESSAGES = """<title>messages · calendly-relay admin</title>""" + STYLE + NAV + """
<h1>Messages</h1>
<p id="state-filter">state: {% if not state %}<strong>all</strong>{% else %}<a href="/admin/messages{{ '?kind=' ~ kind if kind else '' }}">all</a>{% endif %}
{% for s in states %} · {% if s == state %}<strong>{{ s }}</strong>{% else %}<a href="/admin/messages?state={{ s }}{{ '&kind=' ~ kind if kind else '' }}">{{ s }}</a>{% endif %}{% endfor %}</p>
<form method="get" action="/admin/messages" id="filter">
 {% if state %}<input type="hidden" name="state" value="{{ state }}">{% endif %}
 <label>kind <select name="kind" id="kind"><option value="">all</option>
 {% for k in kinds %}<option value="{{ k }}"{% if k == kind %} selected{% endif %}>{{ k }}</option>{% endfor %}</select></label>
 <label>at most <input name="limit" id="limit" value="{{ limit }}" size="4"></label>
 <button type="submit" id="apply-filter">Show</button>
</form>
<table id="messages"><tr><th>last event (UTC)</th><th>kind</th><th>when</th><th>to</th><th>state</th><th>reason</th><th>booking</th></tr>
{% for m in messages %}<tr><td>{{ when(last_seen(m)) }}</td><td>{{ m.kind }}</td><td>{{ offset(m) }}</td><td>{{ m.to or '' }}</td>
<td class="{{ 'bad' if m.state in ('failed', 'skipped', 'opted_out') else '' }}">{{ m.state }}</td><td>{{ m.reason or '' }}</td>
<td>{% if m.booking %}<a href="{{ booking_url(m.booking) }}#message-{{ m.id }}">booking</a>{% endif %}</td></tr>
{% else %}<tr><td colspan="7" class="muted">no message{{ ' in state ' ~ state if state }}{{ ' of kind ' ~ kind if kind }}</td></tr>{% endfor %}
</table>
{{ replies }}
<h2>Status rows that matched no message</h2>
<table id="orphans"><tr><th>at (UTC)</th><th>status</th><th>EngageLab id</th><th>relay id</th><th>details</th></tr>
{% for o in orphans %}<tr><td>{{ when(o.at) }}</td><td>{{ o.event }}</td><td><code>{{ o.provider_id or '' }}</code></td>
<td><code>{{ o.relay_message or '' }}</code></td><td class="muted">{{ detail(o.detail) }}</td></tr>
{% else %}<tr><td colspan="5" class="muted">none</td></tr>{% endfor %}
</table>
<p class="muted">EngageLab reported on a message the ledger does not know (sent before the ledger, or by another
sender on the account); the newest {{ orphans_shown }} are shown.</p>
"""
