"""Tunables of the admin surfaces (/admin, /metrics, the OAuth start), kept apart from
shared/defaults.py for its length; read them as ``defaults.NAME`` like every other."""

DEFAULT_TRUSTED_PROXIES = 0
MAX_TRUSTED_PROXIES = 10
"""TRUSTED_PROXIES: how many reverse proxies stand in front of the web process (Heroku's
router is one). With 0, X-Forwarded-* headers are ignored: anyone can send them. More than
a handful is a typo, not a deployment."""

ADMIN_SESSION_SECONDS = 12 * 3600
"""A signed-in session lasts this long (absolute, not sliding); signing out, or a change of
ADMIN_TOKEN, ends it sooner."""

ADMIN_SIGN_IN_FAILURES = 10
ADMIN_SIGN_IN_WINDOW = 15 * 60
"""At most this many wrong admin tokens per client address per window (seconds), on the
sign-in form and as a bearer header alike. The window starts at the first failure; once
it is full, every attempt from that address gets 429 with Retry-After until the window
ends, without its token being looked at. Others keep signing in: the count is per address."""

ADMIN_THROTTLE_IPV6_PREFIX = 64
"""IPv6 clients are counted per /64 network: one host usually holds a whole /64, and
counting single addresses would give it 2**64 windows."""

ADMIN_SESSION_KDF_SALT = b"calendly-relay admin session v1"
ADMIN_SESSION_KDF = {"n": 2**14, "r": 8, "p": 1}
"""scrypt parameters for the key that binds sessions to ADMIN_TOKEN. The session record in
Redis holds HMAC(scrypt(ADMIN_TOKEN), session); scrypt makes every guess at the token from
a copy of Redis cost ~16 MiB and tens of milliseconds, while the web process derives the key
once and then pays one HMAC per request."""

ADMIN_DELIVERIES_SHOWN = 50
ADMIN_MESSAGES_SHOWN, ADMIN_MESSAGES_MAX = 100, 1000
"""/admin/messages: rows unless ``limit`` asks for more, up to the maximum (a page to read;
``relay messages list`` exports)."""
ADMIN_REPLIES_SHOWN, ADMIN_ORPHANS_SHOWN = 50, 20
ADMIN_SEARCH_MAX_LENGTH = 512
"""A longer search is no id, URI or e-mail address the relay holds."""
