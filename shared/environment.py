"""Reading the environment: environs (marshmallow fields) with the relay's value types.

Every value the relay reads goes through ``Environment``, whose mistakes are a
``ConfigError`` that names the variable and says what it expects (``PORT must be between 1
and 65535, got '70000'``), so a misconfigured process stops at start. A value that is empty
or only blanks counts as unset, as an ``.env`` line ``HOST_PHONE=`` means.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from environs import Env, EnvValidationError
from marshmallow import ValidationError, fields

from shared.durations import OFF_WORDS, parse_duration, parse_optional_duration, parse_optional_offsets
from shared.errors import ConfigError
from shared.locales import parse_locale_map
from shared.quiet_hours import parse_quiet_hours


class Environment(Env):
    """environs' ``Env`` over ``source`` (``os.environ`` unless given: the tests, ``relay
    dev``'s merged ``.env``), asked through ``source.get`` only."""

    def __init__(self, source: Mapping[str, str] | None = None):
        super().__init__(eager=True)
        self.source = os.environ if source is None else source
        for name, field in FIELDS.items():
            self.add_parser_from_field(name, field)

    def _get_value(self, env_key: str, default: Any) -> Any:
        # environs' own hook for where values come from (its FileAwareEnv overrides it too).
        value = self.source.get(env_key, default)
        if isinstance(value, str):
            value = value.strip()
            return value if value else default
        return value

    def read(self, parser: str, name: str, default: Any = None, **options: Any) -> Any:
        """``parser`` (``whole_number``, ``flag``, ``url`` ... or environs' ``str``) applied to
        ``name``; ``default`` when it is unset."""
        try:
            return getattr(self, parser)(name, default, **options)
        except EnvValidationError as error:
            messages = error.error_messages
            variable = self._get_key(name)  # with the prefix of ``prefixed`` (a provider's ENGAGELAB_)
            raise ConfigError(f"{variable} {messages[0] if isinstance(messages, list) else messages}") from None


class WholeNumber(fields.Field):
    def __init__(self, *, minimum: int, maximum: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.minimum, self.maximum = minimum, maximum

    def _deserialize(self, value, attr, data, **kwargs) -> int:
        if not re.fullmatch(r"\d{1,12}", value):
            raise ValidationError(f"must be a whole number, got {value!r}")
        number = int(value)
        if number < self.minimum or (self.maximum is not None and number > self.maximum):
            bounds = f"between {self.minimum} and {self.maximum}" if self.maximum else f"at least {self.minimum}"
            raise ValidationError(f"must be {bounds}, got {value!r}")
        return number


class CountOrOff(WholeNumber):
    """A whole number of at least 1, or ``off`` (None)."""

    def __init__(self, **kwargs):
        super().__init__(minimum=1, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> int | None:
        return None if value.lower() == "off" else super()._deserialize(value, attr, data, **kwargs)


class Number(fields.Field):
    def __init__(self, *, minimum: float, **kwargs):
        super().__init__(**kwargs)
        self.minimum = minimum

    def _deserialize(self, value, attr, data, **kwargs) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValidationError(f"must be a number, got {value!r}") from None
        if number < self.minimum:
            raise ValidationError(f"must be at least {self.minimum}, got {value!r}")
        return number


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


class Flag(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs) -> bool:
        if value.lower() in TRUE_WORDS | FALSE_WORDS:
            return value.lower() in TRUE_WORDS
        raise ValidationError(f"must be 1 or 0 (true/false), got {value!r}")


class Choice(fields.Field):
    """One of ``choices``, in any case."""

    def __init__(self, *, choices: tuple[str, ...], **kwargs):
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        if value.lower() not in self.choices:
            raise ValidationError(f"must be one of {', '.join(self.choices)}, got {value!r}")
        return value.lower()


class HttpUrl(fields.Field):
    """An http(s) base URL, without its trailing slash."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        value = value.rstrip("/")
        if not re.match(r"https?://[^/\s]+", value):
            raise ValidationError(f"must be an http(s) URL, got {value!r}")
        return value


class Token(fields.Field):
    def __init__(self, *, min_length: int, **kwargs):
        super().__init__(**kwargs)
        self.min_length = min_length

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        if len(value) < self.min_length:
            raise ValidationError(f"must be at least {self.min_length} characters (it guards /admin; e.g. "
                                  "`python3 -c 'import secrets; print(secrets.token_urlsafe())'`)")
        return value


def words(value: str) -> tuple[str, ...]:
    """Comma-separated words, blanks dropped: ``new-key, old-key`` → (new-key, old-key)."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


class Words(fields.Field):
    """Comma-separated words, blanks dropped (``words``)."""

    def _deserialize(self, value, attr, data, **kwargs) -> tuple[str, ...]:
        return words(value)


class Regions(fields.Field):
    """ISO 3166 regions phonenumbers knows, e.g. ``US,GB,DE``."""

    def _deserialize(self, value, attr, data, **kwargs) -> frozenset[str]:
        import phonenumbers

        regions = [part.strip().upper() for part in value.split(",") if part.strip()]
        unknown = [region for region in regions if region not in phonenumbers.SUPPORTED_REGIONS]
        if unknown or not regions:
            raise ValidationError(f"must be comma-separated ISO country codes such as US,GB,DE; "
                                  f"not known: {', '.join(unknown) or value!r}")
        return frozenset(regions)


class Durations(fields.Field):
    """What shared/durations.py reads, its complaint kept: ``parse`` turns the text into the
    value, ``expects`` says what it takes."""

    parse = staticmethod(parse_optional_duration)
    expects = "a duration like 30m (or off)"

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return self.parse(value)
        except ValueError as error:
            raise ValidationError(f"must be {self.expects}: {error}") from None


class Offsets(Durations):
    """Reminder offsets such as ``24h,1h``, or ``off`` (none)."""

    parse = staticmethod(parse_optional_offsets)
    expects = "durations like 24h,1h (or off)"


class Duration(Durations):
    """A duration such as ``15m`` or ``90d`` (``off`` is not one): QUIET_MIN_LEAD, LEDGER_RETENTION."""

    parse = staticmethod(parse_duration)
    expects = "a duration like 15m"


class QuietWindow(Durations):
    """``21:00-08:00`` in local time, or ``off`` (None)."""

    parse = staticmethod(parse_quiet_hours)
    expects = "a window of local time like 21:00-08:00 (or off)"


class LocaleMap(Durations):
    """``FR=fr_FR,DE=de_DE``: a locale per phone region."""

    parse = staticmethod(parse_locale_map)
    expects = "pairs of ISO country code and locale like FR=fr_FR,DE=de_DE"


class MessageKinds(fields.Field):
    """Kinds of invitee messages, e.g. ``reminder,followup,confirm``; ``off`` for none."""

    def _deserialize(self, value, attr, data, **kwargs) -> frozenset[str]:
        from shared.vocabulary import SmsKind

        if value.lower() in OFF_WORDS:
            return frozenset()
        wanted = [part.strip().lower() for part in value.split(",") if part.strip()]
        allowed = [kind.value for kind in SmsKind if kind != SmsKind.HOST_NOTIFY]
        unknown = [kind for kind in wanted if kind not in allowed]
        if unknown:
            host = " (host notices follow HOST_QUIET_HOURS)" if SmsKind.HOST_NOTIFY in unknown else ""
            raise ValidationError(f"must be message kinds among {', '.join(allowed)} (or off); "
                                  f"not one: {', '.join(unknown)}{host}")
        return frozenset(wanted)


class TimeZone(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America" is a tzdata folder
            raise ValidationError(f"must be an IANA time zone such as Europe/Berlin, got {value!r}") from None
        return value


class LocaleName(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs) -> str:
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(value)
        except (UnknownLocaleError, ValueError, TypeError):
            raise ValidationError(f"must be a locale such as en_US or de_DE, got {value!r}") from None
        return value


FIELDS: dict[str, type[fields.Field]] = {
    "whole_number": WholeNumber, "count_or_off": CountOrOff, "number": Number, "flag": Flag, "choice": Choice,
    "http_url": HttpUrl, "token": Token, "words": Words, "regions": Regions, "offsets": Offsets,
    "optional_duration": Durations, "time_zone": TimeZone, "locale": LocaleName, "duration": Duration,
    "quiet_hours": QuietWindow, "locale_map": LocaleMap, "message_kinds": MessageKinds,
}
"""The parsers ``Environment.read`` knows besides environs' own (``str``)."""
