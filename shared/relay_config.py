"""``RELAY_CONFIG``: the YAML file for what varies per event type, validated at start.

    event_types:                         # keyed by event type URI, its UUID, or its name
      "30 Minute Meeting":
        templates: {confirm: "1201", reminder: "1203", followup: null}   # null disables
        reminder_offsets: 2h,15m                                         # or "off"
        followup_delay: 1h                                               # or "off"
    event_mapping:                       # event type → Brevo list id (CRM)
      "https://api.calendly.com/event_types/AAAA": 7
    field_mapping:                       # payload field or question → Brevo attribute
      company: COMPANY

Unknown keys are errors, so a typo is caught at start with the key named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.durations import parse_optional_duration, parse_optional_offsets
from shared.errors import ConfigError
from shared.vocabulary import SmsKind
from shared.validation import first_error


class OffsetsField(fields.Field):
    """``2h,15m`` or a YAML list of durations; ``off`` or an empty list for none."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        if not isinstance(value, str):
            raise ValidationError("must be durations like 24h,1h (or off)")
        try:
            return parse_optional_offsets(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class DurationField(fields.Field):
    """``30m``, ``1h30m``; ``off`` (or null) for none."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValidationError("must be a duration like 30m (or off)")
        try:
            return parse_optional_duration(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class EventTypeSchema(Schema):
    class Meta:
        unknown = RAISE

    templates = fields.Dict(
        keys=fields.String(validate=validate.OneOf(list(SmsKind))),
        values=fields.String(allow_none=True),
    )
    reminder_offsets = OffsetsField()
    followup_delay = DurationField(allow_none=True)


class RelayConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    event_types = fields.Dict(keys=fields.String(), values=fields.Nested(EventTypeSchema))
    event_mapping = fields.Dict(keys=fields.String(), values=fields.Integer(strict=True, validate=validate.Range(min=1)))
    field_mapping = fields.Dict(
        keys=fields.String(),
        values=fields.String(
            allow_none=True,  # null removes a source from the default mapping
            validate=validate.Regexp(r"^[A-Z][A-Z0-9_]*$", error="must be an attribute name in CAPITALS"),
        ),
    )


_UNSET: Any = object()


@dataclass(frozen=True)
class EventTypeOverrides:
    templates: Mapping[str, str | None] = field(default_factory=dict)
    """Per kind: a template id, or None to disable the kind for this event type."""
    reminder_offsets: tuple[timedelta, ...] | None = None
    followup_delay: timedelta | None | Any = _UNSET
    """_UNSET: use the global FOLLOWUP_DELAY; None: no follow-up for this event type."""

    @property
    def overrides_followup(self) -> bool:
        return self.followup_delay is not _UNSET


@dataclass(frozen=True)
class RelayConfig:
    event_types: Mapping[str, EventTypeOverrides] = field(default_factory=dict)
    event_mapping: Mapping[str, int] = field(default_factory=dict)
    field_mapping: Mapping[str, str] | None = None

    def for_event_type(self, uri: str | None, name: str | None) -> EventTypeOverrides | None:
        return match_event_type(self.event_types, uri, name)


def match_event_type(table: Mapping[str, Any], uri: str | None, name: str | None) -> Any:
    """Look an event type up by its URI, its UUID (the URI's last segment), or its name
    (case-insensitive). Keys are matched in that order of precedence."""
    candidates = []
    if uri:
        candidates += [uri, uri.rstrip("/").rsplit("/", 1)[-1]]
    if name:
        candidates.append(name)
    lowered = {key.strip().lower(): value for key, value in table.items()}
    for candidate in candidates:
        if candidate in table:
            return table[candidate]
        if candidate.strip().lower() in lowered:
            return lowered[candidate.strip().lower()]
    return None


def load_relay_config(path: str | None) -> RelayConfig:
    if not path:
        return RelayConfig()
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"RELAY_CONFIG: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"RELAY_CONFIG: {path} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"RELAY_CONFIG: {path} is not valid YAML: {error}") from None
    return parse_relay_config(data, origin=path)


def parse_relay_config(data: Any, origin: str = "RELAY_CONFIG") -> RelayConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"RELAY_CONFIG: {origin} must hold a mapping at the top level")
    try:
        loaded = RelayConfigSchema().load(data)
    except ValidationError as error:
        raise ConfigError(f"RELAY_CONFIG {first_error(error.messages)}") from None
    event_types = {
        key: EventTypeOverrides(
            templates=value.get("templates", {}),
            reminder_offsets=value.get("reminder_offsets"),
            followup_delay=value["followup_delay"] if "followup_delay" in value else _UNSET,
        )
        for key, value in loaded.get("event_types", {}).items()
    }
    return RelayConfig(
        event_types=event_types,
        event_mapping=loaded.get("event_mapping", {}),
        field_mapping=loaded.get("field_mapping"),
    )
