"""Brevo: contacts upserted with mapped attributes and lists, and events for automations.

Everything about Brevo is here: its variables (BREVO_*), its calls and the classification
of its answers, ``relay crm setup`` (the attributes the mapping needs) and the check of
``relay config check --remote`` (do they exist?).

Facts (shared/research/providers.md §B): header ``api-key``; ``POST /contacts`` with
``updateEnabled: true`` creates (201) or updates (204); ``POST /events`` with
``identifiers.email_id``; errors are ``{"code", "message"}``; 429 carries
``x-sib-ratelimit-reset`` (seconds to wait); an SMS number that belongs to another contact
is a 400 ``duplicate_parameter`` even on upsert; and Brevo refuses some numbers that
``phonenumbers`` accepts with a 400 ``invalid_parameter`` "Invalid phone number"
(shared/research/real-world.md). Either way the contact is saved without SMS.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from urllib.parse import quote

import requests

from shared.environment import Environment
from shared.errors import ConfigError
from shared.http import HttpClient, json_body, retry_after
from shared.scrub import mask_email
from shared.settings import Settings
from worker.crm.base import ContactUpdate, CrmBackend
from worker.crm.fields import BOOKING_STATUSES, SMS_ATTRIBUTE, attribute_types, contact_attributes, effective_mapping
from worker.provider_errors import PermanentError, ProviderError, TransientError, unreachable

log = logging.getLogger("relay.crm.brevo")

PROVIDER = "brevo"
DEFAULT_API_URL = "https://api.brevo.com/v3"
TRANSIENT_STATUSES = {408, 425, 429}
ATTRIBUTES_CACHE_SECONDS = 600
"""How long the account's attribute definitions (for category values) are reused."""


@dataclass(frozen=True)
class BrevoSettings:
    api_key: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL


class BrevoClient:
    """The few Brevo calls the relay makes, with timeouts and classified errors."""

    def __init__(self, api_url: str, api_key: str, session: requests.Session | None = None):
        self.http = HttpClient(api_url, unreachable(PROVIDER), headers={"api-key": api_key, "accept": "application/json"},
                               session=session)

    @classmethod
    def for_settings(cls, settings: Settings) -> "BrevoClient":
        config: BrevoSettings = settings.providers[PROVIDER]
        return cls(config.api_url, config.api_key)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        return parse_response(self.http.request(method, path, json=body))

    def upsert_contact(self, email: str, attributes: dict[str, Any], list_ids: list[int]) -> None:
        body: dict[str, Any] = {"email": email, "attributes": attributes, "updateEnabled": True}
        if list_ids:
            body["listIds"] = list_ids
        self.request("POST", "/contacts", body)

    def create_event(self, name: str, email: str, properties: dict[str, Any], date: str | None) -> None:
        body: dict[str, Any] = {"event_name": name, "identifiers": {"email_id": email},
                                "event_properties": properties}
        if date:
            body["event_date"] = date
        self.request("POST", "/events", body)

    def update_contact(self, identifier: str, identifier_type: str, body: dict[str, Any]) -> None:
        """``PUT /contacts/{identifier}?identifierType=email_id|phone_id`` (a number is
        found by the contact's SMS attribute)."""
        self.request("PUT", f"/contacts/{quote(identifier, safe='')}?identifierType={identifier_type}", body)

    def attributes(self) -> list[dict[str, Any]]:
        return (self.request("GET", "/contacts/attributes") or {}).get("attributes", [])

    def create_attribute(self, category: str, name: str, body: dict[str, Any]) -> None:
        self.request("POST", f"/contacts/attributes/{category}/{name}", body)

    def update_attribute(self, category: str, name: str, body: dict[str, Any]) -> None:
        self.request("PUT", f"/contacts/attributes/{category}/{name}", body)


def parse_response(response: requests.Response) -> Any:
    status = response.status_code
    data = json_body(response)
    if status < 400:
        return data
    code = data.get("code") if isinstance(data, dict) else None
    message = str(data.get("message")) if isinstance(data, dict) and data.get("message") else response.reason or "error"
    if code == "duplicate_request":  # Brevo already processed this very request
        return data
    if status in TRANSIENT_STATUSES or status >= 500:
        # Brevo's reset counts whole seconds down: one more, so the retry lands after it.
        reset = retry_after(response, "x-sib-ratelimit-reset", margin=1)
        raise TransientError(PROVIDER, message, code=code, status=status, retry_after=reset)
    error = PermanentError(PROVIDER, message, code=code, status=status)
    error.metadata = data.get("metadata") if isinstance(data, dict) else None
    raise error


def sms_refusal(error: PermanentError) -> str | None:
    """Why Brevo would not take the number in SMS, or None when the refusal is about
    something else: ``conflict`` (it belongs to another contact) or ``invalid``."""
    if error.code == "duplicate_parameter":
        duplicates = (getattr(error, "metadata", None) or {}).get("duplicate_identifiers") or []
        if SMS_ATTRIBUTE.lower() in [str(d).lower() for d in duplicates] or "sms" in error.message.lower():
            return "conflict"
    if error.code == "invalid_parameter" and "phone" in error.message.lower():
        return "invalid"
    return None


SMS_REFUSALS = {
    "conflict": "SMS number belongs to another Brevo contact; contact saved without it",
    "invalid": "Brevo refused the SMS number as invalid; contact saved without it",
}


class BrevoCrmBackend(CrmBackend):
    name = PROVIDER

    def __init__(self, client: BrevoClient, mapping: dict[str, str], default_timezone: str):
        self.client = client
        self.mapping = mapping
        self.default_timezone = default_timezone
        self._category_values: dict[str, dict[str, int]] | None = None
        self._fetched_at = 0.0

    # --- its settings, setup and check (worker/provider.py) ------------------------------

    @classmethod
    def read_settings(cls, env: Environment) -> BrevoSettings:
        with env.prefixed("BREVO_"):
            return BrevoSettings(env.read("str", "API_KEY"), env.read("http_url", "API_URL", DEFAULT_API_URL))

    @classmethod
    def configured(cls, config: BrevoSettings) -> bool:
        return bool(config.api_key)

    @classmethod
    def check_settings(cls, config: BrevoSettings, variable: str) -> None:
        if not config.api_key:
            raise ConfigError(f"BREVO_API_KEY is required when {variable}={PROVIDER}")

    @classmethod
    def secrets(cls, config: BrevoSettings) -> tuple[str, ...]:
        return (config.api_key,) if config.api_key else ()

    @classmethod
    def from_settings(cls, settings: Settings) -> "BrevoCrmBackend":
        return cls(BrevoClient.for_settings(settings), effective_mapping(settings.relay_config.field_mapping),
                   settings.default_timezone)

    @classmethod
    def setup(cls, settings: Settings) -> list[str]:
        return setup_attributes(BrevoClient.for_settings(settings),
                                effective_mapping(settings.relay_config.field_mapping))

    @classmethod
    def setup_hint(cls, error: Exception) -> str:
        return " (check BREVO_API_KEY)" if isinstance(error, ProviderError) and error.status in (401, 403) else ""

    @classmethod
    def remote_checks(cls, settings: Settings) -> Iterator[tuple[bool, str]]:
        """Every attribute the mapping writes exists in the account."""
        try:
            existing = {attribute["name"] for attribute in BrevoClient.for_settings(settings).attributes()}
        except ProviderError as error:
            yield False, f"Brevo: {error}"
            return
        for name in attribute_types(effective_mapping(settings.relay_config.field_mapping)):
            if name in existing:
                yield True, f"Brevo attribute {name} exists"
            else:
                yield False, f"Brevo attribute {name} is missing (run: relay crm setup)"

    # --- writing a contact -----------------------------------------------------------------

    def upsert(self, update: ContactUpdate) -> None:
        contact = update.contact
        attributes = self._with_category_values(
            contact_attributes(contact, self.mapping, self.default_timezone))
        lists = [int(i) for i in contact.get("lists") or ()]
        try:
            self.client.upsert_contact(contact["email"], attributes, lists)
        except PermanentError as error:
            refusal = sms_refusal(error) if SMS_ATTRIBUTE in attributes else None
            if refusal is None:
                raise
            log.warning(SMS_REFUSALS[refusal], extra={"email": mask_email(contact["email"]), "code": error.code,
                                                      "sms_refusal": refusal})
            attributes.pop(SMS_ATTRIBUTE)
            self.client.upsert_contact(contact["email"], attributes, lists)

    def record_event(self, update: ContactUpdate) -> None:
        if not update.event:
            return
        contact = update.contact
        properties = {
            "start_time": contact.get("scheduled_at"),
            "event_type": contact.get("event_type_name"),
            "join_url": contact.get("join_url"),
        }
        self.client.create_event(update.event, contact["email"],
                                 {k: v for k, v in properties.items() if v is not None},
                                 contact.get("changed_at"))

    def mark_sms_blacklisted(self, email: str | None, phone: str, blacklisted: bool) -> None:
        """By e-mail when the relay knows it: the number may not be in the contact's SMS
        attribute (Brevo refuses a number another contact holds, or one it finds invalid:
        the contact is then saved without it). Brevo's ``smsBlacklisted`` on update contact:
        https://developers.brevo.com/reference/update-contact. A contact Brevo does not
        know (404) has nothing to block."""
        identifier, kind = (email, "email_id") if email else (phone, "phone_id")
        try:
            self.client.update_contact(identifier, kind, {"smsBlacklisted": blacklisted})
        except PermanentError as error:
            if error.status != 404:
                raise
            log.info("crm contact unknown to Brevo; sms block not set", extra={"identifier_type": kind})

    def _with_category_values(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """A category attribute takes its option's numeric id, not its label (Brevo
        ignores a label silently); a text attribute keeps the label."""
        categories = self._categories()
        for name, value in list(attributes.items()):
            options = categories.get(name)
            if options and isinstance(value, str) and value in options:
                attributes[name] = options[value]
        return attributes

    def _categories(self) -> dict[str, dict[str, int]]:
        if self._category_values is None or time.monotonic() - self._fetched_at > ATTRIBUTES_CACHE_SECONDS:
            self._category_values = {
                attribute["name"]: {option["label"]: option["value"] for option in attribute.get("enumeration") or ()}
                for attribute in self.client.attributes()
                if attribute.get("category") == "category"
            }
            self._fetched_at = time.monotonic()
        return self._category_values


def setup_attributes(client: BrevoClient, mapping: dict[str, str]) -> list[str]:
    """Create the mapped attributes that the account lacks (and missing status options);
    safe to run again. Returns what was done, one line each."""
    existing = {attribute["name"]: attribute for attribute in client.attributes()}
    done = []
    for name, kind in attribute_types(mapping).items():
        current = existing.get(name)
        if kind == "category":
            wanted = [{"value": index, "label": label} for index, label in enumerate(BOOKING_STATUSES, start=1)]
            if current is None:
                client.create_attribute("category", name, {"type": "category", "enumeration": wanted})
                done.append(f"created {name} (category: {', '.join(BOOKING_STATUSES)})")
                continue
            options = current.get("enumeration") or []
            labels = {option["label"] for option in options}
            missing = [label for label in BOOKING_STATUSES if label not in labels]
            if missing and current.get("category") == "category":
                next_value = max([option["value"] for option in options] + [0]) + 1
                added = [{"value": next_value + i, "label": label} for i, label in enumerate(missing)]
                client.update_attribute("category", name, {"enumeration": options + added})
                done.append(f"added {', '.join(missing)} to {name}")
            else:
                done.append(f"kept {name} ({current.get('category')})")
        elif current is None:
            client.create_attribute("normal", name, {"type": kind})
            done.append(f"created {name} ({kind})")
        else:
            done.append(f"kept {name} ({current.get('type') or current.get('category')})")
    return done
