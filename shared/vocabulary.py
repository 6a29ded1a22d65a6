"""The relay's words for a booking's state, a message and a contact, one spelling each.

Each is a ``StrEnum``: a member is its own string, so it is stored, logged, counted and
compared as that string, and what Redis holds from before (plain strings) reads back as
the same member. Two surfaces spell a cancellation differently, on purpose:

- the booking record says ``canceled``, as Calendly does (``invitee.canceled``, an
  invitee's ``status``): it mirrors Calendly's state;
- the CRM contact says ``cancelled``: it is the contract's ``BOOKING_STATUS`` value in
  Brevo (README, Contacts in Brevo), which operators' automations match on.
"""

from __future__ import annotations

from enum import StrEnum


class BookingStatus(StrEnum):
    """A booking record's status (shared/booking.py), in Calendly's spelling."""

    ACTIVE = "active"
    CANCELED = "canceled"
    RESCHEDULED = "rescheduled"
    NO_SHOW = "no_show"


class SmsKind(StrEnum):
    """The messages the relay sends; each has its template variable ``TEMPLATE_ID_<KIND>``."""

    CONFIRM = "confirm"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    REMINDER = "reminder"
    FOLLOWUP = "followup"
    HOST_NOTIFY = "host_notify"
    NO_SHOW = "no_show"
    HOST_RECONFIRMED = "host_reconfirmed"
    """The host hears that an invitee confirmed by SMS reply (worker/callbacks/)."""

    @property
    def template_variable(self) -> str:
        return f"TEMPLATE_ID_{self.value.upper()}"


class Recipient(StrEnum):
    """Who a notice goes to: the invitee's number, or HOST_PHONE."""

    INVITEE = "invitee"
    HOST = "host"


class LedgerEvent(StrEnum):
    """What happens to a message (shared/ledger.py); the states of a ledger entry are the
    same words (its furthest event)."""

    PLANNED = "planned"
    SKIPPED = "skipped"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    OPTED_OUT = "opted_out"


class ContactStatus(StrEnum):
    """A CRM contact's ``status`` (Brevo's BOOKING_STATUS), in the contract's spelling. The
    order is that of the Brevo category's option ids (1-4), which ``relay crm setup`` creates."""

    BOOKED = "booked"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"
    NO_SHOW = "no_show"

    @property
    def crm_event(self) -> str:
        """The Brevo event recorded for automations when a contact takes this status."""
        return f"calendly_{self.value}"
