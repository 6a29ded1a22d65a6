"""Calendly's side, administered from the command line: webhook subscriptions, backfill,
event types and single-use links. Calendly's refusals are printed, not raised (exit 1)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import click

from shared import defaults
from shared.calendly import credentials, links, subscriptions
from shared.errors import ConfigError
from worker.cli.context import Relay, pass_relay


class SpreadValues(click.Command):
    """``--events a b c``: the values after the option, up to the next option, as the
    argparse CLI took them, passed to click as ``--events a --events b --events c``."""

    spread = ("--events",)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        spread, current = [], None
        for arg in args:
            if arg in self.spread:
                current = arg
                continue
            if arg.startswith("-"):
                current = None
            spread += [current, arg] if current else [arg]
        return super().parse_args(ctx, spread)


@click.group()
def webhooks() -> None:
    """Calendly webhook subscriptions."""


@webhooks.command(cls=SpreadValues)
@click.option("--url", help="This relay's public /webhooks/calendly URL (default RELAY_WEBHOOK_URL).")
@click.option("--scope", type=click.Choice(subscriptions.SCOPES), default="organization", show_default=True)
@click.option("--events", multiple=True, metavar="EVENT [EVENT ...]",
              help="Events (default: invitee created/canceled, no-shows; routing forms with CALENDLY_ROUTING_FORMS).")
@click.option("--routing-forms", is_flag=True, help="Also routing_form_submission.created (organization scope only).")
@pass_relay
def subscribe(relay: Relay, url: str | None, scope: str, events: tuple[str, ...], routing_forms: bool) -> int:
    """Subscribe this relay to Calendly's events."""
    settings = relay.settings
    _require_signing_key(relay, "the receiver verifies every delivery with it")
    wanted = list(events or subscriptions.required_events(settings))
    if routing_forms:
        wanted += [event for event in subscriptions.ROUTING_EVENTS if event not in wanted]
    outcome, subscription = subscriptions.subscribe(relay.calendly(), _webhook_url(url, relay), scope, wanted,
                                                    credentials.subscription_signing_key(settings))
    if outcome == "exists":
        print("a subscription for this URL already exists (Calendly answered 409); nothing changed")
    else:
        print("subscribed")
    if subscription:
        print(subscriptions.describe(subscription))
    if credentials.kind(settings) == credentials.OAUTH:
        print(f"note: {credentials.OAUTH_SIGNING_KEY_NOTE}")
    return 0


@webhooks.command("list")
@pass_relay
def list_webhooks(relay: Relay) -> int:
    """Show subscriptions, flagging disabled or retrying ones."""
    items = subscriptions.list_subscriptions(relay.calendly())
    for item in items:
        print(subscriptions.describe(item))
    if not items:
        print("no webhook subscriptions")
    return 0


@webhooks.command()
@click.argument("ident", metavar="ID")
@pass_relay
def delete(relay: Relay, ident: str) -> int:
    """Delete a subscription by id or URI."""
    subscriptions.delete(relay.calendly(), ident)
    print(f"deleted {ident}")
    return 0


@webhooks.command()
@click.option("--url", help="Default RELAY_WEBHOOK_URL.")
@click.option("--repair", is_flag=True, help="Delete and recreate the subscription when it is disabled or missing.")
@pass_relay
def check(relay: Relay, url: str | None, repair: bool) -> int:
    """Exit 0 when all is well; 1 when the subscription is disabled or missing, several
    deliver to the URL, one lacks an event the configuration needs, or deliveries keep
    failing verification (shared/watchdog.py)."""
    settings = relay.settings
    if repair:
        _require_signing_key(relay, "to recreate the subscription")
    client, url = relay.calendly(), _webhook_url(url, relay)
    required = subscriptions.required_events(settings)
    if repair:
        state, subscription = subscriptions.repair(client, url, credentials.subscription_signing_key(settings),
                                                   required)
        print(state.message)
        if not state.healthy:
            print("repaired: deleted and recreated" if state.subscription else "repaired: created")
            if subscription:
                print(subscriptions.describe(subscription))
        healthy = True  # recreated when it was not
    else:
        state = subscriptions.check(client, url, required)
        print(state.message)
        healthy = state.healthy
    problems = _delivery_problems(relay.redis, state)
    for problem in problems:
        print(f"problem: {problem}")
    return 0 if healthy and not problems else 1


def _delivery_problems(conn, state) -> list[str]:
    """The subscription's own problems, and the watchdog's verdict on the deliveries."""
    from shared import watchdog

    problems = list(state.problems)
    failing = watchdog.state(conn)
    if failing and state.subscription is not None and not state.subscription.get("retry_started_at"):
        # Calendly sees its deliveries succeed: the refused requests were not Calendly's.
        print(f"note: {watchdog.describe(failing)}; Calendly is not retrying any delivery, so the refused "
              "requests did not come from this subscription (forged, or meant for another relay)")
    elif failing:
        problems.append(watchdog.describe(failing))
    return problems


def _require_signing_key(relay: Relay, why: str) -> None:
    if relay.settings.signing_key:
        return
    if credentials.kind(relay.settings) == credentials.OAUTH:
        raise ConfigError(f"CALENDLY_WEBHOOK_SIGNING_KEY is required ({why}): {credentials.OAUTH_SIGNING_KEY_NOTE}")
    raise ConfigError(f"CALENDLY_WEBHOOK_SIGNING_KEY is required: Calendly signs deliveries with it and {why}")


def _webhook_url(given: str | None, relay: Relay) -> str:
    url = given or relay.settings.webhook_url
    if not url:
        raise ConfigError("give --url or set RELAY_WEBHOOK_URL (this relay's public /webhooks/calendly URL)")
    return url


@click.command()
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First start date (default now).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last start date (default 60 days ahead).")
@click.option("--dry-run", is_flag=True, help="Show what would be applied, change nothing.")
@pass_relay
def backfill(relay: Relay, start: str | None, end: str | None, dry_run: bool) -> int:
    """Apply existing Calendly bookings (no confirmations sent)."""
    from worker.backfill import backfill as apply_existing

    relay.log_to_stderr()
    now = datetime.now(timezone.utc)
    first = _date(start, "--from") if start else now
    last = _date(end, "--to") + timedelta(days=1) if end else now + timedelta(days=60)
    if last <= first:
        raise ConfigError("--to must be after --from")
    client = relay.calendly(min_interval=defaults.BACKFILL_MIN_INTERVAL)
    print(f"backfill {'(dry run) ' if dry_run else ''}of bookings starting "
          f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC", flush=True)
    report = apply_existing(relay.redis, client, relay.settings, first, last, dry_run=dry_run,
                            progress=lambda line: print(f"  {line}", flush=True))
    for skipped in report.skipped:
        print(f"  skipped {skipped}")
    for unusable in report.unusable:
        print(f"  unusable {unusable}")
    return 1 if report.unusable else 0


def _date(text: str, flag: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ConfigError(f"{flag} must be a date like 2026-12-01, got {text!r}") from None


@click.group("event-types")
def event_types() -> None:
    """Calendly event types."""


@event_types.command("list")
@click.option("--yaml", "as_yaml", is_flag=True, help="Print a RELAY_CONFIG skeleton with every event type.")
@pass_relay
def list_event_types(relay: Relay, as_yaml: bool) -> int:
    """URI, slug, name, duration and state of every event type."""
    scope = relay.settings.calendly_scope
    items = links.event_types(relay.calendly(), scope)
    if as_yaml:
        print(links.config_skeleton(items, scope), end="")
        return 0
    for item in items:
        print(links.describe(item))
    if not items:
        print(f"no event types in this {scope} (CALENDLY_SCOPE)")
    return 0


@click.group("links")
def booking_links() -> None:
    """Single-use booking links."""


@booking_links.command()
@click.argument("event_type", metavar="EVENT_TYPE")
@click.option("--max-events", type=int, default=1, show_default=True,
              help="Bookings the link allows (Calendly accepts 1).")
@pass_relay
def create(relay: Relay, event_type: str, max_events: int) -> int:
    """Print a fresh single-use booking link for an event type (its URI, UUID, slug or name)."""
    client = relay.calendly()
    print(links.create_single_use_link(client, links.resolve_event_type(client, relay.settings.calendly_scope,
                                                                         event_type), max_events))
    return 0


COMMANDS = (webhooks, backfill, event_types, booking_links)
