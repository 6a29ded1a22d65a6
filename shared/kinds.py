"""The kinds of SMS the relay sends; each has its template variable TEMPLATE_ID_<KIND>."""

CONFIRM = "confirm"
CANCEL = "cancel"
RESCHEDULE = "reschedule"
REMINDER = "reminder"
FOLLOWUP = "followup"
HOST_NOTIFY = "host_notify"
NO_SHOW = "no_show"

SMS_KINDS = (CONFIRM, CANCEL, RESCHEDULE, REMINDER, FOLLOWUP, HOST_NOTIFY, NO_SHOW)

TEMPLATE_PARAMS = {
    CONFIRM: ("name", "time"),
    CANCEL: ("name", "link"),
    RESCHEDULE: ("name", "time"),
    REMINDER: ("name", "time", "advance"),
    FOLLOWUP: ("name",),
    HOST_NOTIFY: ("name", "time"),
    NO_SHOW: ("name", "link"),
}
"""The contract's template parameters per kind (ARCHITECTURE.md). ``link`` is the booking's
single-use re-booking link (worker/rebook.py); empty in a cancellation when the relay has no
Calendly credentials."""
