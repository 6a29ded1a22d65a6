"""``relay messages`` (the ledger: every SMS's story) and ``relay optouts`` (the numbers that
asked not to be texted, and the operator's corrections). Numbers are shown masked."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import click

from shared import ledger, optouts
from shared.durations import parse_duration
from shared.scrub import mask_phone
from shared.vocabulary import LedgerEvent, SmsKind
from worker.cli.context import Relay, pass_relay


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value, param, ctx):
        try:
            return parse_duration(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


class Phone(click.ParamType):
    """A number with its country code, in any spelling; E.164 after conversion."""

    name = "phone"

    def convert(self, value, param, ctx):
        try:
            return optouts.canonical(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


@click.group()
def messages() -> None:
    """The message ledger: what was planned, skipped, sent, delivered or failed, and why."""


@messages.command("list")
@click.option("--state", type=click.Choice([str(event) for event in LedgerEvent]), help="Final state.")
@click.option("--kind", type=click.Choice([str(kind) for kind in SmsKind]))
@click.option("--since", type=Duration(), help="With an event in the last ... (e.g. 24h, 7d).")
@click.option("--booking", metavar="URI", help="One booking's messages (its invitee URI).")
@click.option("--limit", type=click.IntRange(1, 5000), default=200, show_default=True)
@pass_relay
def list_messages(relay: Relay, state, kind, since, booking, limit) -> int:
    """Messages, the latest activity first."""
    found = ledger.recent(relay.redis, state=state, kind=kind, booking=booking, limit=limit,
                          since=time.time() - since.total_seconds() if since else None)
    for message in found:
        print(summary(message))
    if not found:
        print("no messages")
    return 0


@messages.command("show")
@click.argument("message_id", metavar="ID")
@pass_relay
def show_message(relay: Relay, message_id: str) -> int:
    """One message and its timeline."""
    message = ledger.load(relay.redis, message_id.strip().lower())
    if message is None:
        raise click.ClickException(f"no message {message_id} in the ledger (relay messages list shows them)")
    print(f"message   {message.id}")
    print(f"kind      {_kind(message)}")
    print(f"state     {_state(message)}")
    print(f"to        {message.to or '-'}")
    print(f"template  {message.template or '-'}")
    print(f"due       {_when(message.due)}")
    print(f"provider  {message.provider_id or '-'}")
    print(f"booking   {message.booking or '-'}")
    for event in message.events:
        detail = "  ".join(f"{name}={_when(value) if name == 'due' else value}"
                           for name, value in sorted(event.detail.items()))
        print(f"  {_when(event.at)}  {event.name:<9} {detail}".rstrip())
    return 0


def summary(message: ledger.Message) -> str:
    return f"{_when(message.last_at)}  {message.id}  {_kind(message):<16} {_state(message):<28} {message.to or '-'}"


def _kind(message: ledger.Message) -> str:
    kind = message.kind or "?"
    return f"{kind} {message.offset // 60}m" if message.offset else kind


def _state(message: ledger.Message) -> str:
    return f"{message.state} ({message.reason})" if message.reason else str(message.state or "?")


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if at else "-"


@click.group("optouts")
def optouts_group() -> None:
    """Numbers that asked not to be texted (a STOP reply, the platform, an operator)."""


@optouts_group.command("list")
@pass_relay
def list_optouts(relay: Relay) -> int:
    """Every opted-out number (masked), the most recent first."""
    entries = optouts.entries(relay.redis)
    for entry in entries:
        print(f"{_when(entry.at)}  {entry.phone:<18} {entry.source}")
    if not entries:
        print("no opted-out numbers")
    return 0


@optouts_group.command("add")
@click.argument("phone", type=Phone())
@pass_relay
def add_optout(relay: Relay, phone: str) -> int:
    """Stop texting PHONE: its pending reminders are removed, the CRM contact marked."""
    from worker.optout import opt_out

    relay.log_to_stderr()
    added = opt_out(relay.redis, phone, "operator", relay.settings)
    print(f"{mask_phone(phone)} {'added to' if added else 'was already on'} the opt-out list")
    return 0


@optouts_group.command("remove")
@click.argument("phone", type=Phone())
@pass_relay
def remove_optout(relay: Relay, phone: str) -> int:
    """Text PHONE again (its removed reminders are not brought back)."""
    from worker.optout import opt_in

    relay.log_to_stderr()
    removed = opt_in(relay.redis, phone, "operator", relay.settings)
    print(f"{mask_phone(phone)} {'removed from' if removed else 'was not on'} the opt-out list")
    return 0


COMMANDS = (messages, optouts_group)
