"""Which messages an event type gets: templates (per locale), reminder offsets, the
follow-up, quiet hours and the locale.

The global settings (TEMPLATE_ID_*, REMINDER_OFFSETS, FOLLOWUP_DELAY, QUIET_HOURS, LOCALE)
with RELAY_CONFIG's top-level ``templates:`` and the event type's overrides applied; only
the worker plans messages, so only it asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping

from shared.locales import locale_for_phone, pick
from shared.quiet_hours import QuietHours
from shared.relay_config import TemplateChoice
from shared.settings import Settings


@dataclass(frozen=True)
class TemplateSource:
    """Where a kind's template comes from for a locale: ``found`` False when nothing names
    one; ``template`` None with ``found`` True when RELAY_CONFIG disables the kind (null)."""

    found: bool
    template: str | None
    where: str | None
    """``event type fr``, ``templates default``, ``TEMPLATE_ID_REMINDER`` ...: for the check."""


@dataclass(frozen=True)
class MessagePolicy:
    tables: tuple[tuple[str, Mapping[str, TemplateChoice]], ...]
    """RELAY_CONFIG's templates, most specific first: the event type's, then the top level's."""
    variables: Mapping[str, str]
    """TEMPLATE_ID_*, by kind."""
    reminder_offsets: tuple[timedelta, ...]
    followup_delay: timedelta | None
    quiet_hours: QuietHours | None
    default_locale: str
    locale_override: str | None = None
    """The event type's ``locale``: over LOCALE_BY_COUNTRY and LOCALE."""

    def source(self, kind: str, locale: str | None = None) -> TemplateSource:
        """The event type's table, then the top level's, each by the most specific key for
        ``locale`` (fr_CA, fr, default); a table without a fitting key leaves the choice to
        the next; then the TEMPLATE_ID_* variable."""
        locale = locale or self.default_locale
        for name, table in self.tables:
            if kind not in table:
                continue
            choice = table[kind]
            if not isinstance(choice, Mapping):
                return TemplateSource(True, choice, name)
            found, template, key = pick(choice, locale)
            if found:
                return TemplateSource(True, template, f"{name} {key}")
        variable = f"TEMPLATE_ID_{kind.upper()}"
        template = self.variables.get(kind)
        return TemplateSource(template is not None, template, variable if template is not None else None)

    def template(self, kind: str, backend: str, locale: str | None = None) -> tuple[bool, str | None]:
        """(enabled, template id). An unset id disables the message, except on the
        console backend, which renders no template and shows every message; an
        explicit ``null`` in RELAY_CONFIG disables it everywhere."""
        source = self.source(kind, locale)
        if source.found and source.template is None:
            return False, None
        if not source.found:
            return backend == "console", None
        return True, source.template

    def invitee_locale(self, phone: str | None, by_country: Mapping[str, str]) -> str:
        """The event type's locale, else the one LOCALE_BY_COUNTRY gives the phone's
        country, else LOCALE."""
        return self.locale_override or locale_for_phone(phone, by_country) or self.default_locale

    @property
    def host_locale(self) -> str:
        """Host notices go to the operator: the event type's locale, else LOCALE."""
        return self.locale_override or self.default_locale


def policy_for(settings: Settings, event_type_uri: str | None, event_type_name: str | None) -> MessagePolicy:
    """Templates, reminder offsets, follow-up, quiet hours and locale for one event type: the
    global settings with that event type's RELAY_CONFIG overrides applied."""
    overrides = settings.relay_config.for_event_type(event_type_uri, event_type_name)
    tables = [("templates", settings.relay_config.templates)]
    offsets, followup, quiet, locale = settings.reminder_offsets, settings.followup_delay, settings.quiet_hours, None
    if overrides is not None:
        tables.insert(0, ("event type", overrides.templates))
        if overrides.reminder_offsets is not None:
            offsets = overrides.reminder_offsets
        if overrides.overrides_followup:
            followup = overrides.followup_delay
        if overrides.overrides_quiet_hours:
            quiet = overrides.quiet_hours
        locale = overrides.locale
    return MessagePolicy(tuple(tables), settings.templates, offsets, followup, quiet, settings.locale, locale)
