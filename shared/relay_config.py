"""``RELAY_CONFIG``: the YAML file for what varies per event type, validated at start.

    event_types:                         # keyed by event type URI, its UUID, or its name
      "30 Minute Meeting":
        templates: {confirm: "1201", reminder: "1203", followup: null}   # null disables
        reminder_offsets: 2h,15m                                         # or "off"
        followup_delay: 1h                                               # or "off"
        quiet_hours: "22:00-07:00"                                       # or off
        locale: de_DE                                                    # over LOCALE(_BY_COUNTRY)
    templates:                           # for every event type, over TEMPLATE_ID_*
      reminder: {default: "1203", fr: "2203", fr_CA: "3203"}            # ids by locale
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
from shared.locales import DEFAULT_KEY, canonical_locale
from shared.quiet_hours import QuietHours, parse_quiet_hours
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


class TemplateField(fields.Field):
    """A template id (``null`` disables the kind), or a mapping from locale to id with
    ``default`` for the others: ``{default: "1203", fr: "2203", fr_CA: "3203"}``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None or isinstance(value, str):
            return value
        if not isinstance(value, dict) or not value:
            raise ValidationError("must be a template id, null, or a mapping from locale (or default) to id")
        choices: dict[str, str | None] = {}
        for key, template in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{key!r} is not a locale such as fr_FR (or default)")
            try:
                locale = DEFAULT_KEY if key.strip() == DEFAULT_KEY else canonical_locale(key)
            except ValueError as error:
                raise ValidationError({key: [str(error)]}) from None
            if template is not None and not isinstance(template, str):
                raise ValidationError({key: ["must be a template id in quotes, or null"]})
            choices[locale] = template
        return choices


class QuietHoursField(fields.Field):
    """``"21:00-08:00"`` or ``off``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is False or value is None:  # YAML reads a bare off as false
            return None
        if not isinstance(value, str):
            raise ValidationError("must be a window like \"21:00-08:00\" (or off)")
        try:
            return parse_quiet_hours(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class LocaleField(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("must be a locale such as de_DE")
        try:
            return canonical_locale(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


def templates_field() -> fields.Dict:
    return fields.Dict(keys=fields.String(validate=validate.OneOf(list(SmsKind))), values=TemplateField(allow_none=True))


class EventTypeSchema(Schema):
    class Meta:
        unknown = RAISE

    templates = templates_field()
    reminder_offsets = OffsetsField()
    followup_delay = DurationField(allow_none=True)
    quiet_hours = QuietHoursField(allow_none=True)
    locale = LocaleField()


class RelayConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    templates = templates_field()
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


TemplateChoice = str | None | Mapping[str, str | None]
"""A template id, None (the kind disabled), or ids by locale (shared/locales.py picks)."""


@dataclass(frozen=True)
class EventTypeOverrides:
    templates: Mapping[str, TemplateChoice] = field(default_factory=dict)
    """Per kind: a template id, None to disable the kind for this event type, or ids by locale."""
    reminder_offsets: tuple[timedelta, ...] | None = None
    followup_delay: timedelta | None | Any = _UNSET
    """_UNSET: use the global FOLLOWUP_DELAY; None: no follow-up for this event type."""

    quiet_hours: QuietHours | None | Any = _UNSET
    """_UNSET: QUIET_HOURS applies; None: no quiet hours for this event type."""
    locale: str | None = None
    """Overrides LOCALE and LOCALE_BY_COUNTRY for this event type's messages."""

    @property
    def overrides_followup(self) -> bool:
        return self.followup_delay is not _UNSET

    @property
    def overrides_quiet_hours(self) -> bool:
        return self.quiet_hours is not _UNSET


@dataclass(frozen=True)
class RelayConfig:
    event_types: Mapping[str, EventTypeOverrides] = field(default_factory=dict)
    event_mapping: Mapping[str, int] = field(default_factory=dict)
    field_mapping: Mapping[str, str] | None = None
    templates: Mapping[str, TemplateChoice] = field(default_factory=dict)
    """Top-level ``templates:``: for every event type, before the TEMPLATE_ID_* variables."""

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
            quiet_hours=value["quiet_hours"] if "quiet_hours" in value else _UNSET,
            locale=value.get("locale"),
        )
        for key, value in loaded.get("event_types", {}).items()
    }
    return RelayConfig(
        event_types=event_types,
        event_mapping=loaded.get("event_mapping", {}),
        field_mapping=loaded.get("field_mapping"),
        templates=loaded.get("templates", {}),
    )


def template_ids(choice: TemplateChoice) -> set[str]:
    """Every id a template choice names (for the providers' checks)."""
    if isinstance(choice, Mapping):
        return {template for template in choice.values() if template}
    return {choice} if choice else set()
