"""Event types and single-use scheduling links, from Calendly's API.

``POST /scheduling_links`` makes a booking link for one event type that can be used
``max_event_count`` times (Calendly accepts only 1 today); ``GET /event_types`` lists them
for an organization or a user (shared/research/calendly.md; developer.calendly.com,
"Create Single-Use Scheduling Link").
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.calendly.client import CalendlyClient, CalendlyError

API = "https://api.calendly.com"
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class NoBookingUrl(CalendlyError):
    """Calendly said yes but gave no booking URL: asking again will not help."""


def event_types(client: CalendlyClient, scope: str) -> list[dict[str, Any]]:
    """Every event type of the organization (or of the token's user), all pages."""
    org, user = client.scope_params()
    return list(client.paginate("/event_types", **(user if scope == "user" else org)))


def resolve_event_type(client: CalendlyClient, scope: str, given: str) -> str:
    """An event type's URI from its URI, UUID, slug or name (the last two looked up)."""
    if given.startswith(("http://", "https://")):
        return given
    if UUID.match(given):
        return f"{API}/event_types/{given}"
    wanted = given.strip().lower()
    found = [item["uri"] for item in event_types(client, scope)
             if wanted in ((item.get("slug") or "").lower(), (item.get("name") or "").strip().lower())]
    if not found:
        raise CalendlyError(f"no event type has the slug or name {given!r} (relay event-types list shows them)")
    if len(found) > 1:
        raise CalendlyError(f"{len(found)} event types are called {given!r}; give the URI instead")
    return found[0]


def create_single_use_link(client: CalendlyClient, event_type_uri: str, max_events: int = 1) -> str:
    """A fresh booking URL for the event type, usable ``max_events`` times."""
    answer = client.post("/scheduling_links", {"max_event_count": max_events, "owner": event_type_uri,
                                              "owner_type": "EventType"})
    url = ((answer or {}).get("resource") or {}).get("booking_url") if isinstance(answer, dict) else None
    if not isinstance(url, str) or not url.startswith("https://"):
        raise NoBookingUrl("Calendly's answer to the scheduling link request has no booking_url")
    return url


def describe(item: dict[str, Any]) -> str:
    active = "active" if item.get("active") else "inactive"
    return (f"{_line(item.get('name')):<32} {_line(item.get('slug')) or '-':<24} {item.get('duration')!s:>4} min  "
            f"{active:<8} {_line(item.get('uri'))}")


def config_skeleton(items: list[dict[str, Any]], scope: str) -> str:
    """A RELAY_CONFIG to edit: each event type keyed by its URI, with its name beside it."""
    items = [item for item in items if isinstance(item.get("uri"), str)]
    lines = [f"# RELAY_CONFIG skeleton: the {scope}'s {len(items)} event types (relay event-types list --yaml).",
             "# Uncomment and edit what differs from the global settings; see README, RELAY_CONFIG.",
             "event_types:" if items else "event_types: {}"]
    for item in items:
        state = "" if item.get("active") else ", inactive"
        lines += [f'  {json.dumps(item["uri"])}:   # {_line(item.get("name"))} ({item.get("duration")} min{state})',
                  '    templates: {}             # e.g. {confirm: "1201", followup: null}',
                  "    # reminder_offsets: 24h,1h",
                  "    # followup_delay: 30m"]
    lines.append("event_mapping: {}                # event type → Brevo list id, e.g.:")
    lines += [f'  # {json.dumps(item["uri"])}: 7   # {_line(item.get("name"))}' for item in items]
    return "\n".join(lines) + "\n"


def _line(value: Any) -> str:
    """A name as one printable line (a comment must not break the YAML around it)."""
    return "".join(ch if ch.isprintable() else " " for ch in str(value if value is not None else ""))
