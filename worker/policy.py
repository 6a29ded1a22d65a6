"""Which messages an event type gets: templates, reminder offsets and the follow-up.

The global settings (TEMPLATE_ID_*, REMINDER_OFFSETS, FOLLOWUP_DELAY) with the event type's
overrides from RELAY_CONFIG applied; only the worker plans messages, so only it asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping

from shared.settings import Settings

DISABLED = object()
"""A template explicitly switched off for an event type (``null`` in RELAY_CONFIG)."""


@dataclass(frozen=True)
class MessagePolicy:
    templates: Mapping[str, str | object]
    reminder_offsets: tuple[timedelta, ...]
    followup_delay: timedelta | None

    def template(self, kind: str, backend: str) -> tuple[bool, str | None]:
        """(enabled, template id). An unset id disables the message, except on the
        console backend, which renders no template and shows every message; an
        explicit ``null`` in RELAY_CONFIG disables it everywhere."""
        value = self.templates.get(kind)
        if value is DISABLED:
            return False, None
        if value is None:
            return backend == "console", None
        return True, value


def policy_for(settings: Settings, event_type_uri: str | None, event_type_name: str | None) -> MessagePolicy:
    """Templates, reminder offsets and follow-up for one event type: the global settings
    with that event type's RELAY_CONFIG overrides applied."""
    overrides = settings.relay_config.for_event_type(event_type_uri, event_type_name)
    templates: dict[str, str | object] = dict(settings.templates)
    offsets, followup = settings.reminder_offsets, settings.followup_delay
    if overrides is not None:
        for kind, template in overrides.templates.items():
            templates[kind] = DISABLED if template is None else template
        if overrides.reminder_offsets is not None:
            offsets = overrides.reminder_offsets
        if overrides.overrides_followup:
            followup = overrides.followup_delay
    return MessagePolicy(templates, offsets, followup)
