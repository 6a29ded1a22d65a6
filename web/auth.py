"""Who may use the admin surfaces (/admin, /metrics, the OAuth start): the holder of
ADMIN_TOKEN, as a bearer header (scripts, Prometheus) or through a session made by
signing in at /admin. Sessions live in Redis, so signing out ends them everywhere.

A session is bound to the token that created it: its record holds
HMAC(scrypt(ADMIN_TOKEN), digest of the session id), checked (in constant time) against the current token on
every request, so changing ADMIN_TOKEN ends every session at once. The record is stored
under a digest of the session id, so a copy of Redis yields neither a usable cookie nor,
short of an scrypt guess per candidate, the token.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from flask import request

from shared import keys
from shared import settings as defaults
from web.responses import error_response, relay

COOKIE = "relay_admin"
SESSION_SECONDS = defaults.ADMIN_SESSION_SECONDS
SESSION_PREFIX = keys.PREFIX + "admin:session:"
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


def has_admin_token() -> bool:
    settings = relay()["settings"]
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else ""
    return bool(settings.admin_token and given) and token_matches(given, settings.admin_token)


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


def has_session() -> bool:
    storage_id = current_session()
    return storage_id is not None and session_is_live(storage_id)


def is_admin() -> bool:
    return bool(relay()["settings"].admin_token) and (has_admin_token() or has_session())


def admin_refusal():
    """None for an admin, else the 401/403 answer."""
    if not relay()["settings"].admin_token:
        return error_response(403, "admin_disabled", "set ADMIN_TOKEN to use admin surfaces")
    if not is_admin():
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
