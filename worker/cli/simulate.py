"""``relay simulate``: a realistic, correctly signed Calendly delivery sent to a running
receiver, as Calendly would send it (shared/calendly/samples.py builds it, and
shared/calendly/signature.py signs it the way the receiver verifies); and EngageLab's
callbacks, a message's status or a person's reply, signed as EngageLab signs them
(shared/engagelab_samples.py, shared/engagelab_callback.py)."""

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
from worker.cli.dev import dev_callback_credentials, dev_signing_key

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


class SimulateGroup(click.Group):
    """``relay simulate EVENT`` for a Calendly event, ``relay simulate sms-status`` and
    ``sms-reply`` for EngageLab's callbacks: each Calendly event name is the same command."""

    def parse_args(self, ctx, args):
        # ``relay simulate --url U invitee.created`` (options first) as the command always took it.
        if args and args[0] not in self.commands:
            named = next((i for i, arg in enumerate(args) if arg in self.commands), None)
            if named is not None:
                args = [args[named], *args[:named], *args[named + 1:]]
        return super().parse_args(ctx, args)

    def format_commands(self, ctx, formatter):
        rows = [(name, command.get_short_help_str(60)) for name, command in self.commands.items()
                if name not in SIMULATED_EVENTS]
        rows.append(("EVENT", f"a Calendly delivery; EVENT is one of {', '.join(SIMULATED_EVENTS)}"))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=SimulateGroup)
def simulate() -> None:
    """Send a signed Calendly delivery or EngageLab callback to a running receiver."""


@click.command()
@click.option("--url", help="Receiver URL (default http://localhost:$PORT/webhooks/calendly).")
@click.option("--name", default="Jane Doe", show_default=True)
@click.option("--email", default="jane.doe@example.com", show_default=True)
@click.option("--phone", default="+1 404-555-1234", show_default=True)
@click.option("--timezone", "zone", default="America/New_York", show_default=True)
@click.option("--start-in", default="2h", show_default=True, help="Meeting start from now, e.g. 2h, 1d, 45m.")
@click.option("--duration", default="30m", show_default=True)
@click.option("--key", help="Signing key (default CALENDLY_WEBHOOK_SIGNING_KEY or the development key).")
def calendly_event(url: str | None, key: str | None, **booking: str) -> int:
    """Send a signed Calendly delivery to a running receiver."""
    event = click.get_current_context().info_name  # the command is registered under each event's name
    from shared.calendly import samples
    from shared.calendly.signature import HEADER, generate_header

    key = key or os.environ.get("CALENDLY_WEBHOOK_SIGNING_KEY") or dev_signing_key()
    url = url or _local_url("/webhooks/calendly")
    status = 0
    for envelope in build_simulated(event, samples, **booking):
        raw = samples.body(envelope)
        response = _post(url, raw, {"Content-Type": "application/json", HEADER: generate_header(raw, key)})
        if response is None:
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


def _callback_options(command):
    for option in (
        click.option("--url", help="Receiver URL (default http://localhost:$PORT/webhooks/engagelab)."),
        click.option("--username", help="Default ENGAGELAB_CALLBACK_USERNAME or the development one."),
        click.option("--secret", help="Default ENGAGELAB_CALLBACK_SECRET or the development one."),
        click.option("--authorization", help="Authorization header (default ENGAGELAB_CALLBACK_AUTHORIZATION)."),
    ):
        command = option(command)
    return command


@simulate.command("sms-status")
@click.argument("message_id")
@click.argument("outcome", type=click.Choice(["sent", "delivered", "failed"]))
@click.option("--code", type=int, default=None, help="error_code of a failure (5019: unsubscribed).")
@click.option("--to", "phone", default=None, help="The recipient, e.g. for an unsubscribed failure.")
@_callback_options
def sms_status(message_id: str, outcome: str, code: int | None, phone: str | None, **target) -> int:
    """EngageLab's status of a message: MESSAGE_ID is the relay's (relay messages list) or EngageLab's."""
    from shared import engagelab_samples, ledger

    ours = ledger.ID_PATTERN.fullmatch(message_id) is not None
    status = {"failed": "delivered_failed"}.get(outcome, outcome)
    row = engagelab_samples.status_row("" if ours else message_id, status, relay_message=message_id if ours else None,
                                       to=phone or "", error_code=code or (0 if outcome != "failed" else 5012),
                                       error_message="Process failed: Unsubscribe" if code == 5019 else None)
    return post_callback(engagelab_samples.body([row]), **target)


@simulate.command("sms-reply")
@click.argument("phone")
@click.argument("text")
@_callback_options
def sms_reply(phone: str, text: str, **target) -> int:
    """A person's SMS reply (STOP, START, HELP, C ...) from PHONE."""
    from shared import engagelab_samples

    return post_callback(engagelab_samples.body([engagelab_samples.reply_row(phone, text)]), **target)


def post_callback(raw: bytes, *, url: str | None, username: str | None, secret: str | None,
                  authorization: str | None) -> int:
    from shared.engagelab_callback import HEADER, generate_header

    if not (secret or os.environ.get("ENGAGELAB_CALLBACK_SECRET")) and not os.environ.get(
            "ENGAGELAB_CALLBACK_AUTHORIZATION"):
        username, secret = dev_callback_credentials()
    username = username or os.environ.get("ENGAGELAB_CALLBACK_USERNAME")
    secret = secret or os.environ.get("ENGAGELAB_CALLBACK_SECRET")
    authorization = authorization or os.environ.get("ENGAGELAB_CALLBACK_AUTHORIZATION")
    url = url or _local_url("/webhooks/engagelab")
    headers = {"Content-Type": "application/json"}
    if secret and username:
        headers[HEADER] = generate_header(secret, username)
    if authorization:
        headers["Authorization"] = authorization
    response = _post(url, raw, headers)
    if response is None:
        return 1
    print(f"engagelab callback → {response.status_code} {response.text.strip()}")
    return 0 if response.status_code == 200 else 1


def _local_url(path: str) -> str:
    """The receiver ``relay dev`` runs, on PORT."""
    return f"http://localhost:{os.environ.get('PORT') or defaults.DEFAULT_PORT}{path}"


def _post(url: str, raw: bytes, headers: dict[str, str]):
    """The receiver's answer, or None (said on stderr) when it cannot be reached."""
    import requests

    try:
        return requests.post(url, data=raw, headers=headers, timeout=10)
    except requests.RequestException as error:
        print(f"relay simulate: cannot reach {url}: {error}", file=sys.stderr)
        return None


for _event in SIMULATED_EVENTS:
    simulate.add_command(calendly_event, name=_event)

COMMANDS = (simulate,)
