"""Who may use the admin surfaces (/admin, /metrics, the OAuth start): the holder of
ADMIN_TOKEN, as a bearer header (scripts, Prometheus) or through a session made by
signing in at /admin. Sessions live in Redis, so signing out ends them everywhere.

Wrong tokens are throttled per client address (request.remote_addr, right behind
TRUSTED_PROXIES): ADMIN_SIGN_IN_FAILURES per ADMIN_SIGN_IN_WINDOW, counted in Redis, on the
sign-in form and the bearer header alike (else the header would be an unthrottled way to
guess). Each failure is logged with the address, never with the token.

A session is bound to the token that created it: its record holds
HMAC(scrypt(ADMIN_TOKEN), digest of the session id), checked in constant time against the
current token on every request, so changing ADMIN_TOKEN ends every session at once. The
record is stored under that digest of the session id, so a copy of Redis yields neither a
usable cookie nor, short of an scrypt computation per guess, the token.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass

from flask import request

from shared import keys, stats
from shared import defaults
from web.responses import error_response, relay

log = logging.getLogger("relay.web.auth")

COOKIE = "relay_admin"
SESSION_SECONDS = defaults.ADMIN_SESSION_SECONDS
SESSION_PREFIX = keys.PREFIX + "admin:session:"
FAILURES_PREFIX = keys.PREFIX + "admin:failures:"
MAX_COOKIE_LENGTH = 64
"""Our session ids are 43 characters; anything much longer is not one of ours."""


@functools.lru_cache(maxsize=4)
def _token_key(token: str) -> bytes:
    """The HMAC key derived from ADMIN_TOKEN, once per process (scrypt is slow on purpose)."""
    return hashlib.scrypt(token.encode(), salt=defaults.ADMIN_SESSION_KDF_SALT, dklen=32,
                          **defaults.ADMIN_SESSION_KDF)


def token_binding(token: str, label: str) -> str:
    """A digest of ``label`` keyed by ADMIN_TOKEN: it verifies only while the token is unchanged."""
    return hmac.new(_token_key(token), label.encode(), hashlib.sha256).hexdigest()


def session_storage_id(session: str) -> str:
    """The Redis name of a session: a digest, so reading Redis gives no usable cookie."""
    return hashlib.sha256(session.encode()).hexdigest()


def token_matches(given: str, token: str) -> bool:
    """Constant-time, also in the length (digests of equal size are compared)."""
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(token.encode()).digest())


# One round trip decides an attempt whose token was already compared: refused unseen while
# the address's window is full, else a failure is counted. The first failure opens the
# window (its expiry), and a count found without one gets one, so no address can stay
# blocked for good. Atomic, so concurrent guesses cannot slip past the limit between a read
# and a write. Returns {throttled, failures so far, seconds left in the window}.
ATTEMPT_SCRIPT = """
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
local throttled = failures >= tonumber(ARGV[1])
if not throttled and ARGV[3] == '1' then
  failures = redis.call('INCR', KEYS[1])
end
local ttl = redis.call('TTL', KEYS[1])
if failures > 0 and ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {throttled and 1 or 0, failures, ttl}
"""


@dataclass(frozen=True)
class Access:
    admin: bool
    retry_after: int | None = None
    """Set when the address is throttled: answer 429 with this Retry-After (seconds)."""
    session: str | None = None
    """The storage id of the session that admitted the request (None for a bearer token)."""


def client_address() -> str:
    """What the throttle counts: the client's IPv4 address, or its IPv6 /64."""
    raw = request.remote_addr or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64] or "unknown"
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{defaults.ADMIN_THROTTLE_IPV6_PREFIX}", strict=False))
    return str(address)


def attempt(valid: bool, via: str) -> Access:
    """Record an attempt with a token (``via`` ``form`` or ``bearer``) whose comparison gave
    ``valid``. A throttled address is refused whatever it sent, so that a right guess
    looks like a wrong one. A success does not clear the count: the address may be shared
    (an office, a misconfigured proxy), and a scraper holding the token there would
    otherwise wipe an attacker's failures every 15 seconds."""
    conn = relay()["redis"]
    address = client_address()
    throttled, failures, seconds_left = conn.register_script(ATTEMPT_SCRIPT)(
        keys=[FAILURES_PREFIX + keys.digest(address)],
        args=[defaults.ADMIN_SIGN_IN_FAILURES, defaults.ADMIN_SIGN_IN_WINDOW, int(not valid)])
    retry_after = seconds_left if seconds_left > 0 else defaults.ADMIN_SIGN_IN_WINDOW
    if throttled:
        # Not logged one by one: a flood would flood the log. The metric counts them.
        stats.count(conn, "admin_auth_failures", via, "throttled")
        return Access(False, retry_after)
    if valid:
        return Access(True)
    stats.count(conn, "admin_auth_failures", via, "refused")
    context = {"client": address, "via": via, "failures": failures, "limit": defaults.ADMIN_SIGN_IN_FAILURES,
               "path": request.path}
    if failures >= defaults.ADMIN_SIGN_IN_FAILURES:
        log.warning("admin sign-in failed: wrong token; this address is refused for %d s", retry_after,
                    extra=context)
    else:
        log.warning("admin sign-in failed: wrong token", extra=context)
    return Access(False)


def bearer_attempt() -> Access | None:
    """None when the request presents no Authorization header; else the verdict on it.
    A request that presents a token is judged by it, whatever cookie it also carries."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return None
    scheme, _, given = header.partition(" ")
    token = relay()["settings"].admin_token
    return attempt(scheme.lower() == "bearer" and token_matches(given.strip(), token), via="bearer")


def session_is_live(storage_id: str) -> bool:
    """The session exists and was made with the current ADMIN_TOKEN. A record made with an
    earlier token is deleted: it can never verify again."""
    token = relay()["settings"].admin_token
    if not token or not storage_id:
        return False
    conn = relay()["redis"]
    stored = conn.get(SESSION_PREFIX + storage_id)
    if stored is None:
        return False
    if hmac.compare_digest(stored, token_binding(token, storage_id).encode()):
        return True
    conn.delete(SESSION_PREFIX + storage_id)
    return False


def current_session() -> str | None:
    """The storage id of this request's session cookie, when it carries one of our shape."""
    session = request.cookies.get(COOKIE, "")
    return session_storage_id(session) if 0 < len(session) <= MAX_COOKIE_LENGTH else None


def live_session() -> str | None:
    """The storage id of this request's session, if it is live."""
    storage_id = current_session()
    return storage_id if storage_id is not None and session_is_live(storage_id) else None


def check() -> Access:
    """Is this request the admin's: a right bearer token, or a live session?"""
    if not relay()["settings"].admin_token:
        return Access(False)
    verdict = bearer_attempt()
    if verdict is not None:
        return verdict
    session = live_session()
    return Access(session is not None, session=session)


def throttled_message(retry_after: int) -> str:
    minutes = -(-retry_after // 60)
    return (f"too many wrong admin tokens from your address: try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}")


def admin_refusal(access: Access | None = None):
    """None for an admin, else the JSON 401/403/429 answer."""
    if not relay()["settings"].admin_token:
        return error_response(403, "admin_disabled", "set ADMIN_TOKEN to use admin surfaces")
    access = access or check()
    if access.retry_after is not None:
        body, status = error_response(429, "too_many_attempts", throttled_message(access.retry_after))
        return body, status, {"Retry-After": str(access.retry_after)}
    if not access.admin:
        return error_response(401, "unauthorized", "sign in at /admin or send the admin token as a bearer header")
    return None


def start_session(response) -> None:
    session = secrets.token_urlsafe(32)
    storage_id = session_storage_id(session)
    binding = token_binding(relay()["settings"].admin_token, storage_id)
    relay()["redis"].set(SESSION_PREFIX + storage_id, binding, ex=SESSION_SECONDS)
    # is_secure is the real scheme, or the trusted proxies' word for it (TRUSTED_PROXIES).
    response.set_cookie(COOKIE, session, max_age=SESSION_SECONDS, httponly=True, samesite="Strict",
                        secure=request.is_secure)


def end_session(response) -> None:
    storage_id = current_session()
    if storage_id:
        relay()["redis"].delete(SESSION_PREFIX + storage_id)
    response.delete_cookie(COOKIE)
