"""``/admin``: recent deliveries, upcoming reminders, failures with a replay button, and
the last 24 hours of bookings and messages. Behind ADMIN_TOKEN: sign in once with the
token (an HttpOnly, SameSite=Strict cookie holds a session kept in Redis), or send it as a
bearer header. Personal data stays masked here too."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template_string, request
from rq.job import Job

from shared import defaults, keys, operations, stats
from web import auth, intake
from web.auth import end_session, start_session
from web.calendly_panel import panel as calendly_panel
from web.replies_panel import panel as replies_panel
from web.responses import no_store, relay

blueprint = Blueprint("admin", __name__)
blueprint.after_request(no_store)


def login_page(message: str | None = None, status: int = 401, retry_after: int | None = None):
    enabled = bool(relay()["settings"].admin_token)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return render_template_string(LOGIN, message=message, enabled=enabled), status, headers


def refusal_page(access: auth.Access):
    """The login page for whoever is not the admin: 429 while their address is throttled."""
    if access.retry_after is not None:
        return login_page(auth.throttled_message(access.retry_after), 429, access.retry_after)
    return login_page()


@blueprint.get("/admin", strict_slashes=False)
def dashboard():
    access = auth.check()
    if not access.admin:
        return refusal_page(access)
    conn = relay()["redis"]
    deliveries = with_status(conn, intake.recent(conn, defaults.ADMIN_DELIVERIES_SHOWN))
    hours = stats.last_hours(conn, 24)
    peak = max([1] + [max(c.get("bookings", 0), c.get("messages", 0)) for _, c in hours])
    return render_template_string(
        DASHBOARD,
        deliveries=deliveries,
        upcoming=operations.upcoming(conn, 50),
        failures=operations.failures(conn, 50),
        depths=operations.queue_depths(conn),
        hours=hours, peak=peak,
        calendly=calendly_panel(conn),
        replies=replies_panel(conn),
    )


def with_status(conn, deliveries: list[dict]) -> list[dict]:
    """Each delivery with the state of its processing job (``expired`` once RQ forgot it)."""
    statuses = Job.fetch_many([keys.event_job(d["id"]) for d in deliveries], connection=conn)
    for delivery, job in zip(deliveries, statuses):
        status = job.get_status(refresh=False) if job is not None else None
        delivery["status"] = getattr(status, "value", status) or "expired"
    return deliveries


@blueprint.post("/admin/login")
def login():
    settings = relay()["settings"]
    if not settings.admin_token:
        return login_page("admin is disabled: set ADMIN_TOKEN", 403)
    access = auth.attempt(auth.token_matches(request.form.get("token", ""), settings.admin_token), via="form")
    if access.retry_after is not None:
        return refusal_page(access)
    if not access.admin:
        return login_page("that is not the admin token")
    response = redirect("/admin", code=303)
    start_session(response)
    return response


@blueprint.post("/admin/logout")
def logout():
    response = redirect("/admin", code=303)
    end_session(response)
    return response


@blueprint.post("/admin/failed/<job_id>/retry")
def retry(job_id: str):
    access = auth.check()
    if not access.admin:
        return refusal_page(access)
    try:
        operations.retry_failed(relay()["redis"], job_id)
    except LookupError as error:
        return render_template_string(NOTICE, message=str(error)), 404
    return redirect("/admin", code=303)


CSS = """
 body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222;max-width:72rem}
 h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem} table{border-collapse:collapse;width:100%}
 td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
 .muted{color:#777} .bad{color:#a00} code{font-size:12px}
 .chart rect.b{fill:#3b7dd8} .chart rect.m{fill:#e89a2c} .chart text{font-size:10px;fill:#555}
 .key-b{color:#3b7dd8} .key-m{color:#e89a2c}
 .alarm{border:2px solid #a00;padding:.5rem 1rem;margin:1rem 0}
 h3{font-size:1rem;margin:1.5rem 0 .2rem} .message{margin-bottom:1rem} .timeline td{font-size:13px}
 form.search input{width:30rem}
"""
"""The pages' only style. The Content-Security-Policy (web/security.py) allows exactly this
text by its hash, so it must stay one <style> block, and the pages carry no style=""
attributes, scripts or outside resources."""

STYLE = f"\n<style>{CSS}</style>\n"

LOGIN = STYLE + """
<title>calendly-relay admin</title>
<h1>calendly-relay admin</h1>
{% if not enabled %}<p class="bad">Admin is disabled: set ADMIN_TOKEN.</p>{% else %}
{% if message %}<p class="bad">{{ message }}</p>{% endif %}
<form method="post" action="/admin/login">
  <label>Admin token <input type="password" name="token" id="token" autofocus></label>
  <button type="submit" id="sign-in">Sign in</button>
</form>{% endif %}
"""

NOTICE = STYLE + """<p class="bad">{{ message }}</p><p><a href="/admin">back</a></p>"""

DASHBOARD = STYLE + """
<title>calendly-relay admin</title>
<h1>calendly-relay admin</h1>
<form method="post" action="/admin/logout"><button>Sign out</button> <a href="/metrics">metrics</a>
 · <a href="/oauth/calendly/start">connect Calendly (OAuth)</a> · <a href="/admin/messages">messages</a>
 · <a href="/admin/messages?state=failed">failed messages</a></form>
<form method="post" action="/admin/search" class="search"><label>Find a booking
 <input name="q" id="search" placeholder="delivery id, message id, invitee URI or e-mail address"></label>
 <button type="submit" id="find">Find</button></form>
<p class="muted">Queues: {% for name, n in depths.items() %}{{ name }} {{ n }}{% if not loop.last %} · {% endif %}{% endfor %}</p>
{{ calendly }}

<h2>Last 24 hours</h2>
<svg class="chart" width="720" height="140" role="img" aria-label="bookings and messages per hour">
{% for label, counts in hours %}{% set x = loop.index0 * 30 %}
 {% set b = (counts.get('bookings', 0) / peak * 100)|round %}{% set m = (counts.get('messages', 0) / peak * 100)|round %}
 <rect class="b" x="{{ x + 4 }}" y="{{ 110 - b }}" width="10" height="{{ b }}"><title>{{ label }}: {{ counts.get('bookings', 0) }} bookings</title></rect>
 <rect class="m" x="{{ x + 15 }}" y="{{ 110 - m }}" width="10" height="{{ m }}"><title>{{ label }}: {{ counts.get('messages', 0) }} messages</title></rect>
 {% if loop.index0 % 3 == 0 %}<text x="{{ x }}" y="125">{{ label }}</text>{% endif %}
{% endfor %}
</svg>
<p class="muted"><span class="key-b">■</span> bookings <span class="key-m">■</span> messages sent</p>

<h2>Recent deliveries</h2>
<table id="deliveries"><tr><th>received (UTC)</th><th>event</th><th>invitee</th><th>processing</th><th>delivery</th></tr>
{% for d in deliveries %}<tr><td>{{ d.at[:19] }}</td><td>{{ d.event }}</td><td>{{ d.who or '' }}</td><td>{{ d.status }}</td>
<td>{% if d.booking %}<a href="/admin/bookings/{{ d.booking }}"><code>{{ d.id }}</code></a>{% else %}<code>{{ d.id }}</code>{% endif %}</td></tr>
{% else %}<tr><td colspan="5" class="muted">none yet</td></tr>{% endfor %}
</table>

{{ replies }}

<h2>Upcoming reminders and scheduled jobs</h2>
<table id="upcoming"><tr><th>due (UTC)</th><th>kind</th><th>when</th><th>booking</th><th>moved</th></tr>
{% for u in upcoming %}<tr><td>{{ u.due.strftime('%Y-%m-%d %H:%M:%S') }}</td><td>{{ u.kind }}</td><td>{{ u.detail }}</td><td>{% if u.booking %}<a href="/admin/bookings/{{ u.booking }}">{{ u.booking_status }}</a>{% else %}{{ u.booking_status or '' }}{% endif %}</td><td>{{ u.move }}</td></tr>
{% else %}<tr><td colspan="5" class="muted">nothing scheduled</td></tr>{% endfor %}
</table>

<h2>Failures</h2>
<table id="failures"><tr><th>failed (UTC)</th><th>queue</th><th>job</th><th>reason</th><th></th></tr>
{% for f in failures %}<tr><td>{{ f.failed_at.strftime('%Y-%m-%d %H:%M:%S') if f.failed_at else '' }}</td><td>{{ f.queue }}</td>
<td>{{ f.func }}</td><td class="bad">{{ f.reason }}</td>
<td><form method="post" action="/admin/failed/{{ f.job_id }}/retry"><button>Replay</button></form></td></tr>
{% else %}<tr><td colspan="5" class="muted">no failures</td></tr>{% endfor %}
</table>
"""
