"""What the relay asks of Calendly, feature by feature, with the scope each one needs.

Since 2026-03-03 personal access tokens and OAuth apps carry scopes, and a new token or
app can do nothing until its scopes are granted; webhook payloads need the read scope of
their event family (https://developer.calendly.com/docs/authentication/scopes). Each
endpoint's page names its scope:
- GET /users/me: ``users:read`` (…/calendly-api/users/get-user)
- GET /webhook_subscriptions: ``webhooks:read`` (…/webhooks/list-webhook-subscriptions);
  POST and DELETE: ``webhooks:write``, which includes ``webhooks:read``
- GET /scheduled_events, …/{uuid}, …/{uuid}/invitees[/{uuid}]: ``scheduled_events:read``
  (…/scheduled-events/list-scheduled-events, get-scheduled-event, list-event-invitees,
  get-event-invitee); also the read scope of invitee.* webhook payloads
- GET /event_types: ``event_types:read`` (…/event-types/list-event-types)
- POST /scheduling_links: ``scheduling_links:write`` (…/scheduling-links/create-scheduling-link)
- GET /routing_forms: ``routing_forms:read`` (…/routing-forms/list-routing-forms); also the
  read scope of routing_form_submission.created payloads
(… = https://developer.calendly.com/api-docs/calendly-api)

``probe`` checks each feature with a request that changes nothing and says ``ok``,
``missing scope <name>``, ``plan does not allow it`` or ``unreachable`` (plus ``token
refused`` for a 401 and ``not permitted for this user`` for a 403 about the user's role).
Results are kept in Redis for /admin, as are the refusals jobs meet (``note_forbidden``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from shared import keys, stats
from shared import defaults
from shared.calendly import credentials
from shared.calendly.client import MISSING_SCOPE, PERMISSION, PLAN, CalendlyClient, CalendlyError, Forbidden
from shared.scrub import safe_text
from shared.settings import Settings

log = logging.getLogger("relay.calendly")


@dataclass(frozen=True)
class Feature:
    name: str
    """The ``feature`` label of relay_calendly_forbidden_total."""
    title: str
    scopes: tuple[str, ...]
    endpoints: str


USER = Feature("user", "user lookup", ("users:read",), "GET /users/me")
SUBSCRIPTIONS = Feature("subscriptions", "webhook subscriptions", ("webhooks:write",),
                        "GET, POST, DELETE /webhook_subscriptions")
BOOKINGS = Feature("bookings", "booking webhooks, backfill and reconciliation", ("scheduled_events:read",),
                   "invitee.* payloads; GET /scheduled_events, /scheduled_events/{uuid}[/invitees[/{uuid}]]")
EVENT_TYPES = Feature("event_types", "event types", ("event_types:read",), "GET /event_types")
REBOOK_LINKS = Feature("rebook_links", "single-use re-booking links", ("scheduling_links:write",),
                       "POST /scheduling_links")
ROUTING_FORMS = Feature("routing_forms", "routing-form leads", ("routing_forms:read",),
                        "routing_form_submission.created payloads; GET /routing_forms")
OAUTH = Feature("oauth", "OAuth connection", (), "POST https://auth.calendly.com/oauth/token")
FEATURES = (USER, SUBSCRIPTIONS, BOOKINGS, EVENT_TYPES, REBOOK_LINKS, ROUTING_FORMS, OAUTH)

PATHS = (("/users/", USER), ("/webhook_subscriptions", SUBSCRIPTIONS), ("/scheduled_events", BOOKINGS),
         ("/event_types", EVENT_TYPES), ("/scheduling_links", REBOOK_LINKS), ("/routing_forms", ROUTING_FORMS))

OK = "ok"
PLAN_REFUSED = "plan does not allow it"
UNREACHABLE = "unreachable"
TOKEN_REFUSED = "token refused"
NOT_PERMITTED = "not permitted for this user (an owner or admin is needed)"
NOT_USED = "not used"


def feature_of(path: str) -> Feature | None:
    return next((feature for prefix, feature in PATHS if path.startswith(prefix)), None)


def outcome_of(error: CalendlyError, feature: Feature) -> str:
    """The probe line's verdict for a failed request."""
    if isinstance(error, Forbidden):
        if error.reason == MISSING_SCOPE:
            return f"missing scope {', '.join(error.scopes or feature.scopes)}"
        return PLAN_REFUSED if error.reason == PLAN else NOT_PERMITTED
    if error.status == 401:
        return TOKEN_REFUSED
    if error.status is None or error.status == 429 or error.status >= 500:
        return UNREACHABLE
    return f"unexpected answer (HTTP {error.status})"


@dataclass(frozen=True)
class Result:
    feature: Feature
    outcome: str
    needed: bool = True

    @property
    def ok(self) -> bool:
        return self.outcome == OK or not self.needed

    def line(self) -> str:
        quiet = self.needed or self.outcome == OK or self.outcome.startswith(NOT_USED)
        note = "" if quiet else " (not needed by this configuration)"
        return f"Calendly {self.feature.title}: {self.outcome}{note}"


def needed(feature: Feature, settings: Settings) -> bool:
    """Event types serve the operator's commands only; routing forms only CALENDLY_ROUTING_FORMS."""
    if feature is ROUTING_FORMS:
        return settings.calendly_routing_forms
    if feature is OAUTH:
        return credentials.kind(settings) == credentials.OAUTH
    return feature is not EVENT_TYPES


# --- probes ---------------------------------------------------------------------------

def probe(client: CalendlyClient, settings: Settings) -> list[Result]:
    """One result per API feature. Reads where a read exists; a feature that only writes
    is probed with an empty body Calendly must refuse (400), which creates nothing. That
    a missing scope is refused (403) before the body is looked at is how OAuth scopes are
    usually enforced, but Calendly does not document the order: a 400 is read as "ok"."""
    try:
        me = client.me()
        user_outcome = OK
    except CalendlyError as error:
        me, user_outcome = None, outcome_of(error, USER)
    results = [Result(USER, user_outcome)]
    for feature, check in CHECKS:
        if me is None and feature is not REBOOK_LINKS:  # they all look the user up first
            outcome = user_outcome
        else:
            outcome = _attempt(lambda: check(client, me, settings), feature)
        results.append(Result(feature, outcome, needed(feature, settings)))
    return results


def _attempt(check: Callable[[], Any], feature: Feature) -> str:
    try:
        check()
    except CalendlyError as error:
        return outcome_of(error, feature)
    return OK


def _write_probe(client: CalendlyClient, path: str) -> None:
    """POST an empty body: a 400 or 422 means the token may write here."""
    try:
        client.post(path, {})
    except CalendlyError as error:
        if error.status not in (400, 422):
            raise


def _owner(me: dict[str, Any], settings: Settings) -> dict[str, str]:
    if settings.calendly_scope == "user":
        return {"user": me["uri"]}
    return {"organization": me["current_organization"]}


def _subscriptions(client: CalendlyClient, me: dict[str, Any], settings: Settings) -> None:
    client.get("/webhook_subscriptions", organization=me["current_organization"], scope="user", user=me["uri"],
               count=1)
    _write_probe(client, "/webhook_subscriptions")


def _bookings(client: CalendlyClient, me: dict[str, Any], settings: Settings) -> None:
    window = {"status": "active", "count": 1}
    try:
        client.get("/scheduled_events", **_owner(me, settings), **window)
    except Forbidden as error:
        if error.reason != PERMISSION or settings.calendly_scope == "user":
            raise
        client.get("/scheduled_events", user=me["uri"], **window)  # as backfill does for a member


def _event_types(client: CalendlyClient, me: dict[str, Any], settings: Settings) -> None:
    client.get("/event_types", **_owner(me, settings), count=1)


def _rebook_links(client: CalendlyClient, me: dict[str, Any] | None, settings: Settings) -> None:
    _write_probe(client, "/scheduling_links")


def _routing_forms(client: CalendlyClient, me: dict[str, Any], settings: Settings) -> None:
    client.get("/routing_forms", organization=me["current_organization"], count=1)


CHECKS = ((SUBSCRIPTIONS, _subscriptions), (BOOKINGS, _bookings), (EVENT_TYPES, _event_types),
          (REBOOK_LINKS, _rebook_links), (ROUTING_FORMS, _routing_forms))


def oauth_result(conn, settings: Settings) -> Result:
    """Whether the relay holds an OAuth token it can use (refreshed if due)."""
    from shared.calendly import oauth
    from shared.errors import ConfigError

    if credentials.kind(settings) != credentials.OAUTH:
        return Result(OAUTH, f"{NOT_USED} ({credentials.kind(settings) or 'no Calendly credentials'})", needed=False)
    try:
        oauth.access_token(conn, settings)
    except ConfigError:
        return Result(OAUTH, "not connected (sign in at /admin and connect Calendly)")
    except CalendlyError as error:
        refused = error.status is not None and 400 <= error.status < 500
        return Result(OAUTH, TOKEN_REFUSED if refused else UNREACHABLE)
    return Result(OAUTH, OK)


# --- what /admin shows ----------------------------------------------------------------

def record(conn, results: list[Result], source: str = "check") -> None:
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    conn.hset(keys.CALENDLY_FEATURES, mapping={
        r.feature.name: json.dumps({"outcome": r.outcome, "needed": r.needed, "at": at, "source": source})
        for r in results})


def recorded(conn) -> list[dict[str, Any]]:
    """Every feature in order with its last known outcome (None: never checked)."""
    stored = {k.decode(): json.loads(v) for k, v in conn.hgetall(keys.CALENDLY_FEATURES).items()}
    return [{"feature": f, **stored.get(f.name, {"outcome": None, "needed": True, "at": None, "source": None})}
            for f in FEATURES]


# --- a refusal met by a job -----------------------------------------------------------

def note_forbidden(conn, error: Forbidden) -> str:
    """Count a 403 a job met, remember it for /admin, and log it once an hour per feature:
    the job goes on without the feature instead of retrying what will not change."""
    feature = feature_of(error.path) or USER
    outcome = outcome_of(error, feature)
    stats.count(conn, "calendly_forbidden", feature.name)
    record(conn, [Result(feature, outcome)], source="job")
    if conn.set(keys.CALENDLY_FORBIDDEN_LOGGED + feature.name, "1", nx=True,
                ex=defaults.CALENDLY_FORBIDDEN_LOG_INTERVAL):
        said = safe_text(outcome)  # the scope names come from Calendly's answer
        log.error("Calendly refused the %s: %s; the relay goes on without it (logged once an hour; "
                  "relay config check --remote shows every feature)", feature.title, said,
                  extra={"feature": feature.name, "outcome": said, "scope": safe_text(", ".join(error.scopes)) or None})
    return outcome
