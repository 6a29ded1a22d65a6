"""``relay simulate``: a realistic, correctly signed Calendly delivery sent to a running
receiver, as Calendly would send it (shared/calendly/samples.py builds it, and
shared/calendly/signature.py signs it the way the receiver verifies)."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from shared import defaults
from shared.durations import parse_duration
from worker.cli.dev import dev_signing_key

SIMULATED_EVENTS = (
    "invitee.created",
    "invitee.canceled",
    "reschedule",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
    "routing_form_submission.created",
)
LAST_SIMULATED_FILE = "simulate_last.json"
"""The last simulated booking (under ./var/): cancellations, reschedules and no-shows act on it."""


@click.command()
@click.argument("event", type=click.Choice(SIMULATED_EVENTS), metavar="EVENT")
@click.option("--url", help="Receiver URL (default http://localhost:$PORT/webhooks/calendly).")
@click.option("--name", default="Jane Doe", show_default=True)
@click.option("--email", default="jane.doe@example.com", show_default=True)
@click.option("--phone", default="+1 404-555-1234", show_default=True)
@click.option("--timezone", "zone", default="America/New_York", show_default=True)
@click.option("--start-in", default="2h", show_default=True, help="Meeting start from now, e.g. 2h, 1d, 45m.")
@click.option("--duration", default="30m", show_default=True)
@click.option("--key", help="Signing key (default CALENDLY_WEBHOOK_SIGNING_KEY or the development key).")
def simulate(event: str, url: str | None, key: str | None, **booking: str) -> int:
    """Send a signed Calendly delivery to a running receiver."""
    import requests

    from shared.calendly import samples
    from shared.calendly.signature import HEADER, generate_header

    key = key or os.environ.get("CALENDLY_WEBHOOK_SIGNING_KEY") or dev_signing_key()
    url = url or f"http://localhost:{os.environ.get('PORT') or defaults.DEFAULT_PORT}/webhooks/calendly"
    status = 0
    for envelope in build_simulated(event, samples, **booking):
        raw = samples.body(envelope)
        headers = {"Content-Type": "application/json", HEADER: generate_header(raw, key)}
        try:
            response = requests.post(url, data=raw, headers=headers, timeout=10)
        except requests.RequestException as error:
            print(f"relay simulate: cannot reach {url}: {error}", file=sys.stderr)
            return 1
        print(f"{envelope['event']} → {response.status_code} {response.text.strip()}")
        if response.status_code != 200:
            status = 1
    return status


def build_simulated(event: str, samples, *, name: str, email: str, phone: str, zone: str, start_in: str,
                    duration: str) -> list[dict[str, Any]]:
    """The deliveries for one ``relay simulate`` call; follow-ups reuse the last booking."""
    now = datetime.now(timezone.utc)
    start = now + parse_duration(start_in)
    last_path = Path(defaults.VAR_DIR) / LAST_SIMULATED_FILE
    if event == "routing_form_submission.created":
        return [samples.envelope(event, samples.routing_form_payload(email=email, name=name))]
    if event == "invitee.created" or not last_path.is_file():
        booking = samples.invitee_payload(name=name, email=email, phone=phone or None, start=start,
                                          duration=parse_duration(duration), tz=zone)
        created = [samples.envelope("invitee.created", booking)]
        if event == "invitee.created":
            _remember(last_path, booking)
            return created
    else:
        booking, created = json.loads(last_path.read_text()), []
    if event == "invitee.canceled":
        return created + [samples.envelope(event, samples.canceled(booking, reason="Simulated"))]
    if event == "reschedule":
        new = samples.rescheduled(booking, start=start)
        _remember(last_path, new)
        old = samples.canceled(booking, rescheduled_to=new["uri"])
        return created + [samples.envelope("invitee.canceled", old), samples.envelope("invitee.created", new)]
    at = now + timedelta(seconds=1)  # a no-show always comes after the booking
    payload = samples.no_show_marked(booking) if event == "invitee_no_show.created" else booking
    return created + [samples.envelope(event, payload, created_at=at)]


def _remember(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


COMMANDS = (simulate,)
