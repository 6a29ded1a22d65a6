"""Single-use re-booking links for cancelled and no-show invitees.

On a plain cancellation and on a no-show the relay asks Calendly for a booking link that
works once, for the same event type, and hands it on: as ``link`` in the cancellation and
no-show SMS, and as the contact's REBOOK_URL in Brevo, for an automation to chase.

One link per booking, whichever job asks first (the SMS or the CRM sync): its creation
runs under the booking's send-once key (``worker/idempotency.py``), and the URL is kept
as that key's value for the other job and for every re-run. Without Calendly credentials
the link is skipped with a logged reason; Calendly refusing it (a deleted event type) is
logged too, and the message goes without a link. A token without the
``scheduling_links:write`` scope, or a plan without the feature, is not asked again for
this message: it goes without the link, and the refusal is counted
(relay_calendly_forbidden_total{feature="rebook_links"}) and logged once an hour. A
network error, a 5xx or a 429 is transient: the job is retried like any provider call.
"""

from __future__ import annotations

import logging
import time

from shared import stats
from shared.calendly import features
from shared.calendly.client import CalendlyError, Forbidden
from shared.calendly.links import NoBookingUrl, create_single_use_link
from shared.calendly.oauth import api_client
from shared.errors import ConfigError
from shared.scrub import safe_text
from shared.vocabulary import ContactStatus, SmsKind
from worker import idempotency
from worker.provider_errors import TransientError

log = logging.getLogger("relay.rebook")

LINK_KINDS = (SmsKind.CANCEL, SmsKind.NO_SHOW)
"""SMS kinds whose ``link`` param is the booking's re-booking link."""
LINK_STATUSES = (ContactStatus.CANCELLED, ContactStatus.NO_SHOW)
"""Contact statuses that carry REBOOK_URL to Brevo."""

LINK_ATTEMPTS = 3
"""Attempts of a message's job during which it waits for Calendly to make the link; after
that the cancellation (and the CRM update) go without one."""

WAIT_FOR_OTHER_JOB = 5.0
"""Seconds to wait for a link another job is creating right now, before retrying later."""


def last_try(payload) -> bool:
    """Whether this attempt of a message's job (worker/payloads.py) is the last that waits
    for Calendly's link."""
    return int(payload.attempt) + 1 >= LINK_ATTEMPTS


def link_key(invitee_uri: str) -> str:
    return f"rebook|{invitee_uri}"


def link_for(conn, settings, invitee_uri: str, event_type_uri: str | None, last_try: bool = False) -> str | None:
    """The booking's single-use link, created on first use; None (logged) when there is none.
    A transient failure raises TransientError (the job is retried), unless ``last_try``:
    then the message goes without a link rather than wait any longer for Calendly."""
    key = link_key(invitee_uri)
    existing = idempotency.recorded(conn, key)
    if existing:
        return existing
    if not event_type_uri:
        return _skip(conn, "no_event_type")
    try:
        # No waiting out Calendly's rate limit inside a job (it has a timeout): a 429 is
        # retried later like any transient failure.
        client = api_client(conn, settings, rate_limit_waits=0)
    except ConfigError:
        return _skip(conn, "no_calendly_token")
    try:
        created = idempotency.run_once(conn, key, lambda: _create(create_single_use_link, client, event_type_uri))
    except idempotency.AlreadyInFlight:
        return _wait_for_other_job(conn, key)
    except _Forbidden as refusal:
        features.note_forbidden(conn, refusal.error)  # logged once an hour, not once per message
        stats.count(conn, "rebook_links", "skipped", refusal.error.reason)
        return None
    except _Refused as refusal:
        return _skip(conn, "calendly_refused", str(refusal))
    except ConfigError as error:  # OAuth tokens that this process cannot refresh
        return _skip(conn, "no_calendly_token", str(error))
    except TransientError as error:
        if last_try:
            return _skip(conn, "calendly_unavailable", str(error))
        raise
    if created is None:  # made between our read and our claim
        return idempotency.recorded(conn, key)
    stats.count(conn, "rebook_links", "created", "")
    log.info("single-use booking link created", extra={"event_type": event_type_uri})
    return created


class _Refused(Exception):
    """Calendly will not make this link (4xx): the message goes without one."""


class _Forbidden(Exception):
    """Calendly's 403: the token or the plan does not allow links; nothing to retry."""

    def __init__(self, error: Forbidden):
        super().__init__(str(error))
        self.error = error


def _create(create, client, event_type_uri: str) -> str:
    try:
        return create(client, event_type_uri)
    except NoBookingUrl as error:
        raise _Refused(str(error)) from None
    except Forbidden as error:
        raise _Forbidden(error) from None
    except CalendlyError as error:
        if error.status is None or error.status == 429 or error.status >= 500:
            raise TransientError("calendly", str(error), status=error.status, retry_after=error.retry_after) from None
        raise _Refused(str(error)) from None


def _wait_for_other_job(conn, key: str) -> str:
    deadline = time.monotonic() + WAIT_FOR_OTHER_JOB
    while time.monotonic() < deadline:
        time.sleep(0.1)
        done = idempotency.recorded(conn, key)
        if done:
            return done
    raise idempotency.AlreadyInFlight("another job is creating this booking's link")


def _skip(conn, reason: str, detail: str = "") -> None:
    stats.count(conn, "rebook_links", "skipped", reason)
    log.info("single-use booking link skipped: %s", safe_text(detail) if detail else reason, extra={"reason": reason})
    return None
