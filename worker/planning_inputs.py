"""Every setting that changes which reminders and follow-ups a booking gets, when, or how
they read, as plain JSON-able values.

The scheduler fingerprints this (worker/replan.py) to notice, at start, that pending jobs
were planned under another configuration. A setting that changes planning but is missing
here would leave pending jobs stale after a change, so anything the planning
(worker/messages.py ``reminder_jobs``, worker/policy.py) or rendering reads belongs here.
Secrets never do: the fingerprint is stored in Redis.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.relay_config import EventTypeOverrides
from shared.settings import Settings
from shared.vocabulary import SmsKind


def planning_inputs(settings: Settings) -> dict[str, Any]:
    return {
        "reminder_offsets": _seconds_list(settings.reminder_offsets),
        "followup_delay": _seconds(settings.followup_delay),
        # The console backend shows a kind without a template id; other backends skip it.
        "sms_backend": settings.sms_backend,
        "templates": {kind.value: settings.templates.get(kind) for kind in SmsKind},
        "event_types": {key: _event_type(value) for key, value in sorted(settings.relay_config.event_types.items())},
        # A number outside SMS_COUNTRIES gets no reminder job at all.
        "sms_countries": sorted(settings.sms_countries),
        "locale": settings.locale,
        "default_timezone": settings.default_timezone,
    }


def _event_type(overrides: EventTypeOverrides) -> dict[str, Any]:
    return {
        "templates": dict(sorted(overrides.templates.items())),
        "reminder_offsets": None if overrides.reminder_offsets is None else _seconds_list(overrides.reminder_offsets),
        "followup_delay": _seconds(overrides.followup_delay) if overrides.overrides_followup else "default",
    }


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def _seconds_list(values) -> list[int]:
    return [int(value.total_seconds()) for value in values]
