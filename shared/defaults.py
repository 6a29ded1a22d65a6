"""Every named default and tunable of calendly-relay, in the manner of rq's ``defaults.py``.

Plain constants, each with why it has its value. What an operator sets (the environment)
is read in ``shared/settings.py``; a provider's own defaults live in its module
(``worker/sms/engagelab.py``, ``worker/crm/brevo.py``).
"""

# --- Receiver -------------------------------------------------------------------------

DEFAULT_PORT = 8000

MAX_BODY_BYTES = 256 * 1024
"""Largest webhook body accepted; Calendly's deliveries are a few KiB."""

DEFAULT_WEBHOOK_TOLERANCE = 25 * 3600
"""Maximum age of the signature timestamp ``t``, in seconds.

Calendly retries a failed delivery for 24 hours and nothing documents that a retry is re-signed
with a fresh ``t``: a short window would reject every retry and in the end get the subscription
disabled. Replays inside the window are harmless because of dedupe."""

MAX_WEBHOOK_TOLERANCE = 30 * 24 * 3600

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays the receiver accepts. Calendly's deliveries are
five or six levels deep; a much deeper body (a hostile one) would only fail later, when
the job is pickled into Redis, after 200 had been answered."""

FUTURE_SKEW = 5 * 60
"""A timestamp further than this in the future is rejected (clock skew allowance)."""

WEBHOOK_VERIFICATION_FAILURES = 3
WEBHOOK_VERIFICATION_WINDOW = 10 * 60
"""The watchdog (shared/watchdog.py) raises the alarm after this many deliveries refused
for ``no_matching_signature`` within this many seconds, with none accepted in between: a
wrong or rotated key, or a proxy that alters the body. Calendly retries each refused
delivery and disables the subscription after 24 hours."""
WEBHOOK_VERIFICATION_ALERT_INTERVAL = 10 * 60
"""While the alarm is raised, one error line per this many seconds names the likely causes."""

DEDUPE_TTL_MIN = 7 * 24 * 3600
DEDUPE_TTL_MARGIN = 24 * 3600
"""The dedupe record lives at least a week and always a day longer than the tolerance,
so no delivery the signature check accepts can find its dedupe record expired."""

# --- EngageLab callbacks (POST /webhooks/engagelab) -------------------------------------

DEFAULT_ENGAGELAB_CALLBACK_TOLERANCE = 300
"""Seconds the ``timestamp`` of an ``X-CALLBACK-ID`` header may be off, either way: the
window EngageLab's own verifier applies (https://www.engagelab.com/docs/sms/api/callback,
engagelab-otp's WebhookVerifier). A nonce is remembered for twice as long, so a replayed
header is refused for as long as its timestamp could still pass."""
MAX_ENGAGELAB_CALLBACK_TOLERANCE = 24 * 3600

CALLBACK_DEDUPE_TTL = 7 * 24 * 3600
"""A callback body's digest is remembered this long: EngageLab's retries of a refused
callback are not documented, so a generous week, like Calendly's dedupe."""

DEFAULT_SMS_STOP_WORDS = "STOP, STOPALL, UNSUBSCRIBE, END, QUIT, REVOKE, OPTOUT, CANCEL"
"""Replies that opt a number out: CTIA's list plus what the FCC's 2024 order treats as a
revocation (shared/research/real-world.md)."""
DEFAULT_SMS_START_WORDS = "START, UNSTOP"
DEFAULT_SMS_CONFIRM_WORDS = "C, CONFIRM, 1"
"""Replies that reconfirm the sender's nearest upcoming booking. Never ``CANCEL``: that is
a stop word, and a word in both lists is refused at start."""
HELP_WORDS = ("HELP",)
"""Replies that are logged as a request for help (the carrier answers HELP itself)."""
UNMATCHED_REPLIES_KEPT = 200
"""Replies that matched no word, kept masked for /admin (the newest this many)."""

# --- Web process (gunicorn, web/gunicorn_config.py) -------------------------------------

DEFAULT_WEB_CONCURRENCY = 2
"""gunicorn worker processes (``WEB_CONCURRENCY``)."""

WEB_WORKER_CLASS = "gevent"
"""gunicorn's gevent worker reads each connection in a greenlet of its own. With the sync
worker a process read one request at a time, so a client sending its headers a byte at a
time held a whole worker until the 30 s timeout, and two such clients kept Calendly out.
redis-py (hiredis only parses), requests and Flask run unchanged under gevent's monkey
patching, which the worker applies before it imports the app (tests/faults cover both)."""

WEB_WORKER_CONNECTIONS = 1000
"""Connections one worker serves at once (gunicorn's default); beyond it, new connections
wait in the listen backlog. A slowloris needs this many open sockets per worker, each
renewed every ``WEB_HEADER_TIMEOUT``, to delay anyone: past that scale it is a flood for
a proxy or the platform's router to absorb, not something a worker setting can fix."""

WEB_HEADER_TIMEOUT = 5
"""Seconds a connection has to send a complete request head, and, kept alive, to start
its next request. gunicorn's gevent worker reads each head under a timer of its
``keepalive`` setting, so this bounds what a trickling client can hold; Calendly sends a
request in one go. The body is read next, at most ``MAX_BODY_BYTES`` within ``WEB_BODY_TIMEOUT``."""

WEB_BODY_TIMEOUT = 10
"""Seconds a request has to deliver its body once its head is in (web/body.py): a client
that sends a head and then nothing is answered 408 and closed instead of holding its
connection for good."""

WEB_TIMEOUT = 30
"""A worker whose event loop makes no progress for this long is restarted by gunicorn."""

PLATFORM_STOP_TIMEOUT = 30
"""Seconds between a platform's SIGTERM and its SIGKILL (Heroku: 30, to every process of
the dyno). Documentation and tests measure against it; no process waits this long."""

SHUTDOWN_GRACE = 25
"""Seconds the work in flight gets after SIGTERM: requests (web), the job (worker). Five
short of PLATFORM_STOP_TIMEOUT, so each process ends it itself, cleanly and logged,
before the platform's SIGKILL would."""

WEB_GRACEFUL_TIMEOUT = SHUTDOWN_GRACE
"""On SIGTERM, requests in flight get this long to finish (gunicorn's graceful_timeout)."""

WEB_REDIS_CONNECT_TIMEOUT = 0.5
WEB_REDIS_SOCKET_TIMEOUT = 0.75
"""The receiver answers 503 within about a second when Redis is unreachable, so a
request never hangs and Calendly retries later."""

WEB_APP_LOAD_ERROR_EXIT = 4
"""Exit status of a gunicorn worker that refuses to load the app (gunicorn's
``Arbiter.APP_LOAD_ERROR``): the master then stops with it. With any other status the
master boots the worker again, for ever, and the refusal scrolls by in a crash loop."""

# --- Redis connection -----------------------------------------------------------------

REDIS_SSL_CERT_REQS_CHOICES = ("required", "optional", "none")
DEFAULT_REDIS_SSL_CERT_REQS = "required"
"""Certificate check of a ``rediss://`` REDIS_URL (REDIS_SSL_CERT_REQS), redis-py's
``ssl_cert_reqs``. Heroku's Redis add-on accepts only TLS and signs its certificates with
a CA of its own, which no client trusts: there ``none`` (encrypted, but the server is not
authenticated) is the documented setting. ``optional`` is accepted for completeness; for a
client it checks exactly as ``required`` does (Python's ssl module). Ignored for
``redis://`` and ``unix://`` URLs."""

# --- Queues and jobs ------------------------------------------------------------------

EVENTS_QUEUE = "events"
SMS_QUEUE = "sms"
REMINDERS_QUEUE = "reminders"
CRM_QUEUE = "crm"
MAINTENANCE_QUEUE = "maintenance"
"""Subscription checks and reconciliation: slow API calls that must not hold up messages."""
CALLBACKS_QUEUE = "callbacks"
"""EngageLab's status rows and replies (POST /webhooks/engagelab). Right after the
deliveries: a STOP reply must land on the opt-out list before the next message is sent."""
WORKER_QUEUES = (EVENTS_QUEUE, CALLBACKS_QUEUE, SMS_QUEUE, REMINDERS_QUEUE, CRM_QUEUE, MAINTENANCE_QUEUE)
"""Queues a worker listens to, in priority order."""
MESSAGES_FIRST_AFTER_DELIVERY = (CALLBACKS_QUEUE, SMS_QUEUE)
"""Looked at before the next delivery once a delivery was applied (worker/rq_worker.py)."""
WAITING_DELIVERY_TTL, NOTICE_MAX_WAITS, NOTICE_WAIT_MAX_DELAY = 24 * 3600, 1440, 60
"""A booking's deliveries not yet applied are forgotten a day after the last arrived; a notice
waits for them at most 1,440 times, 1 s, 2 s, 4 s ... at most 60 s apart (shared/waiting.py)."""

PROCESS_EVENT_FUNC = "worker.jobs.process_event"
"""Referenced by name so the receiver never imports worker code."""
PROCESS_CALLBACK_FUNC = "worker.jobs.process_callback"
"""An EngageLab callback body's job, enqueued by the receiver by this name likewise."""

EVENT_JOB_RESULT_TTL = 24 * 3600
SIDE_EFFECT_RESULT_TTL = 24 * 3600
FAILED_JOB_TTL = 30 * 24 * 3600
JOB_TIMEOUT = 60
EVENT_JOB_OPTIONS = {"timeout": JOB_TIMEOUT, "result_ttl": EVENT_JOB_RESULT_TTL, "failure_ttl": FAILED_JOB_TTL}
"""A delivery's ``process_event`` job, as the receiver enqueues it (and a replay again)."""

SENT_MARKER_TTL = 60 * 24 * 3600
"""How long an idempotency key of a sent message is remembered."""

BOOKING_RECORD_TTL = 90 * 24 * 3600
"""A booking record is kept this long after the meeting ends (or after its last change
when the end is unknown)."""

SCHEDULED_JOB_RESULT_TTL = 24 * 3600
"""A fired reminder's RQ result, kept as long as any job's: each is a Redis stream of about
4.7 KB, and the message's story is in the ledger for LEDGER_RETENTION (at seven days they
were a fifth of a busy site's Redis, bench/steady_state.py)."""

# --- Provider calls -------------------------------------------------------------------

HTTP_CONNECT_TIMEOUT = 5.0
HTTP_READ_TIMEOUT = 15.0
"""No provider call can hang a worker: every request has both timeouts."""

RETRY_BASE_DELAY = 30
RETRY_MAX_DELAY = 3600
RETRY_MAX_ATTEMPTS = 12
"""Transient failures are retried after 30 s, 1 min, 2 min ... capped at 1 h: twelve
attempts span about six hours, longer than a typical provider outage."""

# --- Messages -------------------------------------------------------------------------

DEFAULT_TIMEZONE = "UTC"
DEFAULT_LOCALE = "en_US"
DEFAULT_REMINDER_OFFSETS = "24h,1h"
DEFAULT_FOLLOWUP_DELAY = "30m"
DEFAULT_CALENDLY_API_URL = "https://api.calendly.com"
DEFAULT_CALENDLY_AUTH_URL = "https://auth.calendly.com"

DEFAULT_QUIET_HOURS = "21:00-08:00"
"""QUIET_HOURS: no reminder or follow-up lands in this window of the invitee's local time
(shared/quiet_hours.py, worker/quiet_hours.py): the "reminder at 3:03 am" people complain of."""
DEFAULT_QUIET_MIN_LEAD = "15m"
"""A reminder moved out of quiet hours goes at the window's end only if that still leaves
this long before the start; otherwise it goes before the window begins."""
DEFAULT_QUIET_HOURS_APPLY_TO = "reminder,followup"
"""Kinds that wait for the end of quiet hours. Confirmations, cancellations, reschedule and
no-show notices answer something the person just did, so by default they go at once."""
DEFAULT_HOST_QUIET_HOURS = "off"
"""HOST_QUIET_HOURS: the host chose to be told of each booking; off unless asked for."""
QUIET_HOURS_EARLY_MARGIN = 60
"""Seconds before the window begins at which a reminder goes when the window's end is too
close to the start: "the last minute before the window"."""

DEFAULT_SMS_DAILY_CAP_PER_NUMBER = 10
"""Messages one invitee number may receive in any 24 hours (worker/toll_fraud.py): a
booking costs four or five, so two bookings a day pass and a pumping run does not."""
SMS_CAP_WINDOW = 24 * 3600

# --- Message ledger and opt-outs (shared/ledger.py, shared/optouts.py) -----------------

DEFAULT_LEDGER_RETENTION_TEXT = "90d"
DEFAULT_LEDGER_RETENTION = 90 * 24 * 3600
"""LEDGER_RETENTION: a message's entry is kept this long after its last event, as long as
the booking record after its meeting (BOOKING_RECORD_TTL), so a booking's page shows its
messages for as long as it shows the booking."""
LEDGER_MAX_EVENTS = 20
"""Events kept per message (the plan and the latest ones): a message has three to five; a
provider repeating a status cannot grow an entry without bound."""
LEDGER_REASON_LENGTH = 160
"""A provider's failure reason is kept this long in a ledger event: the code says the rest."""
LEDGER_SCAN_BATCH = 200
LEDGER_SCAN_LIMIT = 20000
"""``relay messages list`` and /admin read recent entries a batch at a time, newest first,
and stop after this many: a filter that matches little does not read 90 days of messages."""
LEDGER_ORPHANS_KEPT = 500
"""Status rows that matched no message, kept for /admin (the newest)."""
LEDGER_ORPHAN_WAIT = 24 * 3600
"""How long a status row naming only a provider id we have not seen waits for its send to
be recorded (a callback that raced the send), before it is only an orphan."""
PHONE_INDEX_MARGIN = 24 * 3600
"""A number's index of bookings (BookingStore.with_phone: who replied, whose reminders an
opt-out cancels) outlives the latest start by this much, so a pending follow-up is found."""
DELIVERY_RATIO_WINDOW_HOURS = 24
"""relay_sms_delivery_ratio: delivered / (delivered + failed) over this many hours."""

# --- Calendly API housekeeping --------------------------------------------------------

WEBHOOK_CHECK_INTERVAL = 3600
"""The scheduler checks the webhook subscription hourly: Calendly disables it silently
after 24 hours of failed deliveries."""
CALENDLY_FORBIDDEN_LOG_INTERVAL = 3600
"""A job that meets Calendly's 403 (a missing scope, the plan) goes on without the feature
and logs it at most once per this many seconds per feature; every one is counted."""
DEFAULT_RECONCILE_INTERVAL = "15m"
BACKFILL_MIN_INTERVAL = 0.15
"""Seconds between API calls in a backfill: about 400 a minute, under Calendly's 500."""

WORKER_CLASSES = ("simple", "fork")
DEFAULT_WORKER_CLASS = "simple"
"""``simple`` runs jobs in the worker process (RQ's SimpleWorker); ``fork`` forks a child
per job (RQ's Worker). The relay's jobs are short, pure-Python and bounded by timeouts,
and forking costs about 50 ms a job here, ten times the job itself (bench/reminders.py):
scale with more worker processes instead."""

ABANDONED_CHECK_INTERVAL = 15
"""Seconds between the scheduler's passes over jobs whose worker died mid-job (SIGKILL,
out of memory, a lost host). RQ declares such a job abandoned JOB_TIMEOUT + 60 s after it
started; the pass then puts it back on its queue (RQ alone would only fail it, and only
in a worker's ten-minute maintenance)."""
WORKER_LEFT_JOB_EXIT = 3
"""Exit status of a worker that stopped with a job unfinished, left to the recovery."""
MAX_ABANDONED_REQUEUES = 3
"""A job that kills its worker this many times stays failed (``relay failed list``):
requeueing a job that crashes every worker that takes it would stop all messages."""

MIN_ADMIN_TOKEN_LENGTH = 16
"""A shorter ADMIN_TOKEN is refused at start: it is the only guard of /admin and /metrics."""

# --- Worker and scheduler processes -------------------------------------------------

WORKER_HEARTBEAT_MIN_INTERVAL = 10
"""Seconds between a worker's own heartbeats outside a job. RQ refreshes the worker key
(HSET and two EXPIREs, a round trip each) three times per job; the key lives for
``worker_ttl`` + 60 s (8 min), so one refresh every 10 s keeps it alive with room to
spare and saves a third of a job's round trips (bench/RESULTS.md, burst drain)."""
WORKER_SUSPENSION_CHECK_INTERVAL = 1.0
"""Seconds between a worker's checks for ``rq suspend`` (RQ checks before every job)."""
WORKER_REDIS_RETRY_MAX_WAIT = 5.0
"""Seconds at most between a worker's tries to reach Redis while it is down. RQ's wait
doubles up to 60 s: after an outage, work sat for up to a minute with Redis back."""
DEFAULT_SCHEDULER_INTERVAL = 1.0
SCHEDULER_WAKE_MARGIN = 0.005
"""Seconds past a job's due second at which the scheduler wakes for it: the due check
compares with the clock, which must have reached that second."""
REPLAN_BATCH_SIZE = 100
"""Bookings replanned per batch when the configuration changed (worker/replan.py): each
booking is its own small transaction; a batch is the unit of the progress line in the log
and of renewing the replan lock."""
REPLAN_LOCK_TTL = 120
"""Seconds the replan lock is held without renewal: renewed after every batch (a batch
takes well under a second), so only a scheduler that died mid-replan lets it expire, and
the next start replans again (the fingerprint is stored only once a replan completed)."""

# --- Development ----------------------------------------------------------------------

VAR_DIR = "var"
"""Where the embedded Redis and the development signing key live (relative to cwd)."""

EMBEDDED_REDIS_DB_FILE = "redis.db"
DEV_SIGNING_KEY_FILE = "dev_signing_key"
DEV_ADMIN_TOKEN_FILE = "dev_admin_token"
DEV_CALLBACK_SECRET_FILE = "dev_engagelab_callback_secret"
DEV_CALLBACK_USERNAME = "relay-dev"
"""``relay dev`` signs nothing itself; it enables POST /webhooks/engagelab with this
username and a secret kept under ./var/, which ``relay simulate sms-*`` signs with."""

# --- Admin surfaces: in their own module for length, read through this one -------------

from shared.admin_defaults import *  # noqa: E402,F401,F403
