"""Calendly webhook subscriptions: subscribe, list, delete, check and repair.

Calendly has no screen for these and disables a subscription silently after 24 hours of
failed deliveries; a disabled one cannot be re-enabled, only deleted and recreated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.calendly.client import PERMISSION, AlreadyExists, CalendlyClient, CalendlyError, Forbidden, uuid_of

DEFAULT_EVENTS = ("invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted")
ROUTING_EVENTS = ("routing_form_submission.created",)
"""Routing forms exist only at organization scope."""
SCOPES = ("organization", "user")

OK = "ok"
RETRYING = "retrying"
DISABLED = "disabled"
MISSING = "missing"


@dataclass(frozen=True)
class Check:
    state: str
    subscription: dict[str, Any] | None
    message: str
    problems: tuple[str, ...] = ()
    """What else is wrong: several subscriptions for the URL, events the configuration needs."""

    @property
    def healthy(self) -> bool:
        return self.state in (OK, RETRYING)


def required_events(settings) -> list[str]:
    """The events this configuration needs: the invitee events, and routing-form
    submissions with CALENDLY_ROUTING_FORMS."""
    return list(DEFAULT_EVENTS) + (list(ROUTING_EVENTS) if settings.calendly_routing_forms else [])


def same_url(a: str | None, b: str | None) -> bool:
    return bool(a and b) and a.rstrip("/") == b.rstrip("/")


def subscribe(client: CalendlyClient, url: str, scope: str, events: list[str], signing_key: str | None
              ) -> tuple[str, dict[str, Any] | None]:
    """("created", subscription) or ("exists", the existing one) when Calendly says 409.
    ``signing_key`` None sends none: with OAuth, Calendly signs with the app's key
    (shared/calendly/credentials.py)."""
    if scope not in SCOPES:
        raise CalendlyError(f"scope must be one of {', '.join(SCOPES)}")
    if scope != "organization" and set(events) & set(ROUTING_EVENTS):
        raise CalendlyError("routing_form_submission.created is only available with --scope organization")
    me = client.me()
    body: dict[str, Any] = {"url": url, "events": list(events), "organization": me["current_organization"],
                            "scope": scope}
    if scope == "user":
        body["user"] = me["uri"]
    if signing_key:
        body["signing_key"] = signing_key
    try:
        created = client.post("/webhook_subscriptions", body)
    except AlreadyExists:
        existing = next((s for s in list_subscriptions(client) if same_url(s.get("callback_url"), url)), None)
        return "exists", existing
    return "created", (created or {}).get("resource")


def list_subscriptions(client: CalendlyClient) -> list[dict[str, Any]]:
    """Organization-scope subscriptions (when the token may see them) and the user's."""
    me = client.me()
    found: dict[str, dict[str, Any]] = {}
    for params in ({"scope": "organization"}, {"scope": "user", "user": me["uri"]}):
        try:
            for item in client.paginate("/webhook_subscriptions", organization=me["current_organization"], **params):
                found[item["uri"]] = item
        except Forbidden as error:
            if error.reason != PERMISSION:  # a member who is not an admin cannot list organization scope
                raise
    return list(found.values())


def delete(client: CalendlyClient, subscription: str) -> None:
    client.delete(f"/webhook_subscriptions/{uuid_of(subscription)}")


def check(client: CalendlyClient, url: str, required: list[str] | tuple[str, ...] = DEFAULT_EVENTS) -> Check:
    matching = [s for s in list_subscriptions(client) if same_url(s.get("callback_url"), url)]
    if not matching:
        return Check(MISSING, None, f"no Calendly webhook subscription delivers to {url}")
    active = [s for s in matching if s.get("state") == "active"]
    if not active:
        return Check(DISABLED, matching[0], f"the subscription for {url} is disabled: Calendly stopped delivering")
    subscription, problems = active[0], _problems(matching, active, required, url)
    if subscription.get("retry_started_at"):
        return Check(RETRYING, subscription,
                     f"Calendly has been retrying failed deliveries since {subscription['retry_started_at']}; "
                     "it disables the subscription after 24 hours of failures", problems)
    return Check(OK, subscription, f"the subscription for {url} is active", problems)


def _problems(matching: list[dict[str, Any]], active: list[dict[str, Any]], required, url: str) -> tuple[str, ...]:
    problems = []
    if len(matching) > 1:
        ids = ", ".join(uuid_of(s["uri"]) for s in matching)
        problems.append(f"{len(matching)} subscriptions deliver to {url} ({ids}): each booking arrives once per "
                        "subscription; keep one (relay webhooks delete ID)")
    subscribed = {event for s in active for event in s.get("events") or []}
    missing = [event for event in required if event not in subscribed]
    if missing:
        why = " (CALENDLY_ROUTING_FORMS=1)" if set(missing) & set(ROUTING_EVENTS) else ""
        problems.append(f"the subscription lacks {', '.join(missing)}, which this configuration needs{why}; "
                        "delete it and run relay webhooks subscribe")
    return tuple(problems)


def repair(client: CalendlyClient, url: str, signing_key: str | None,
           required: list[str] | tuple[str, ...] = DEFAULT_EVENTS) -> tuple[Check, dict[str, Any] | None]:
    """Delete a disabled subscription and recreate it with the same events and scope (a
    missing one is created with the required events)."""
    state = check(client, url, required)
    if state.healthy:
        return state, state.subscription
    events, scope = list(required), "organization"
    if state.subscription:
        events = state.subscription.get("events") or events
        scope = state.subscription.get("scope") or scope
        delete(client, state.subscription["uri"])
    _, created = subscribe(client, url, scope, events, signing_key)
    return state, created


def describe(subscription: dict[str, Any]) -> str:
    flag = ""
    if subscription.get("state") != "active":
        flag = "  !! DISABLED: delete and recreate it (relay webhooks check --repair)"
    elif subscription.get("retry_started_at"):
        flag = f"  !! RETRYING since {subscription['retry_started_at']}"
    return (f"{uuid_of(subscription['uri'])}  {subscription.get('state')}  {subscription.get('scope')}  "
            f"{subscription.get('callback_url')}\n    events: {', '.join(subscription.get('events') or [])}"
            f"\n    retry_started_at: {subscription.get('retry_started_at')}{flag}")
