"""Every setting that changes how reminders and follow-ups are planned or rendered, as plain
JSON-able data: what a pending job was planned under. Replanning (issue 18, §3) compares a
fingerprint of this with the one the pending jobs were planned under.

A setting belongs here when changing it changes a pending job's time, whether it exists,
its template, or its text: the offsets and delay, quiet hours, locales, templates, the
per-event-type overrides, and the SMS backend (the console backend plans messages that
have no template id).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping

from shared.relay_config import EventTypeOverrides, TemplateChoice
from shared.settings import Settings

INHERITED = "inherit"
"""An event type that does not override a setting (it follows the global one)."""


def planning_inputs(settings: Settings) -> dict[str, Any]:
    config = settings.relay_config
    return {
        "reminder_offsets": [_seconds(offset) for offset in settings.reminder_offsets],
        "followup_delay": _seconds(settings.followup_delay),
        "sms_backend": settings.sms_backend,
        "templates": dict(sorted(settings.templates.items())),
        "relay_templates": _templates(config.templates),
        "event_types": {key: _event_type(overrides) for key, overrides in sorted(config.event_types.items())},
        "locale": settings.locale,
        "locale_by_country": dict(sorted(settings.locale_by_country.items())),
        "default_timezone": settings.default_timezone,
        "quiet_hours": _text(settings.quiet_hours),
        "quiet_min_lead": _seconds(settings.quiet_min_lead),
        "quiet_hours_apply_to": sorted(settings.quiet_hours_apply_to),
        "host_quiet_hours": _text(settings.host_quiet_hours),
        "host_timezone": settings.host_timezone,
        # Planning leaves out numbers no longer allowed: a change removes their pending jobs.
        "sms_countries": sorted(settings.sms_countries),
    }


def _event_type(overrides: EventTypeOverrides) -> dict[str, Any]:
    return {
        "templates": _templates(overrides.templates),
        "reminder_offsets": (INHERITED if overrides.reminder_offsets is None
                             else [_seconds(offset) for offset in overrides.reminder_offsets]),
        "followup_delay": _seconds(overrides.followup_delay) if overrides.overrides_followup else INHERITED,
        "quiet_hours": _text(overrides.quiet_hours) if overrides.overrides_quiet_hours else INHERITED,
        "locale": overrides.locale or INHERITED,
    }


def _templates(table: Mapping[str, TemplateChoice]) -> dict[str, Any]:
    return {kind: dict(sorted(choice.items())) if isinstance(choice, Mapping) else choice
            for kind, choice in sorted(table.items())}


def _seconds(duration: timedelta | None) -> int | None:
    return None if duration is None else int(duration.total_seconds())


def _text(value: object) -> str | None:
    return None if value is None else str(value)
