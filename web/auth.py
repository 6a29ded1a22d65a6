"""Who may use the admin surfaces (/admin, /metrics, the OAuth start): the holder of
ADMIN_TOKEN, as a bearer header (scripts, Prometheus) or through a session made by
signing in at /admin. Sessions live in Redis, so signing out ends them everywhere."""

from __future__ import annotations

import hmac
import secrets

from flask import request

from shared import keys
from web.responses import error_response, relay

COOKIE = "relay_admin"
SESSION_SECONDS = 12 * 3600
SESSION_PREFIX = keys.PREFIX + "admin:session:"


def has_admin_token() -> bool:
    settings = relay()["settings"]
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else ""
    return bool(settings.admin_token and given) and hmac.compare_digest(given.encode(), settings.admin_token.encode())


def has_session() -> bool:
    session = request.cookies.get(COOKIE, "")
    return bool(session) and len(session) <= 64 and relay()["redis"].exists(SESSION_PREFIX + session) == 1


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
    relay()["redis"].set(SESSION_PREFIX + session, "1", ex=SESSION_SECONDS)
    secure = request.is_secure or request.headers.get("X-Forwarded-Proto", "") == "https"
    response.set_cookie(COOKIE, session, max_age=SESSION_SECONDS, httponly=True, samesite="Strict", secure=secure)


def end_session(response) -> None:
    session = request.cookies.get(COOKIE, "")
    if session and len(session) <= 64:
        relay()["redis"].delete(SESSION_PREFIX + session)
    response.delete_cookie(COOKIE)
