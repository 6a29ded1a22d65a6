"""Calendly OAuth 2.0 for one organization, tokens kept in Redis, and the API client.

The authorization uses PKCE with S256 (RFC 7636), which Calendly recommends for every app,
web ones included (https://developer.calendly.com/creating-an-oauth-app and
https://developer.calendly.com/api-docs/calendly-o-auth/o-auth/get-oauth-authorize): the
code_verifier stays in Redis with the state, only its S256 challenge travels in the
authorize URL, and the token request must prove it. A code caught on its way back (a
leaked URL, a log) is useless without it.

Access tokens live two hours. Refresh tokens are single-use and rotate: each refresh
revokes the one it used and returns a new one, which must be stored before anyone else
refreshes. So refreshes are serialised across every process by a Redis lock, and a
process that waited re-reads the token instead of refreshing again.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any, Mapping
from urllib.parse import urlencode

import requests
from redis.exceptions import ResponseError

from shared import keys
from shared.calendly.client import CalendlyClient, CalendlyError
from shared.http import HttpClient, json_body
from shared.redis_conn import held
from shared.settings import ConfigError, Settings

TOKENS_KEY = f"{keys.PREFIX}oauth:calendly"
LOCK_KEY = f"{keys.PREFIX}oauth:calendly:lock"
STATE_PREFIX = f"{keys.PREFIX}oauth:state:"
STATE_TTL = 600
"""Calendly's authorization codes expire after 10 minutes; so does our state."""
REFRESH_MARGIN = 300
"""Refresh when the access token has less than this many seconds left."""
LOCK_TTL = 30.0
LOCK_WAIT = 35.0


class OAuthError(CalendlyError):
    pass


def check_oauth_settings(settings: Settings) -> None:
    for name, value in (("CALENDLY_CLIENT_ID", settings.calendly_client_id),
                        ("CALENDLY_CLIENT_SECRET", settings.calendly_client_secret),
                        ("CALENDLY_REDIRECT_URI", settings.calendly_redirect_uri)):
        if not value:
            raise ConfigError(f"{name} is required for the Calendly OAuth connection")


MAX_STATE_LENGTH = 64
"""Our states are 43 characters; a longer one is not ours (and makes no Redis key)."""


def code_challenge(verifier: str) -> str:
    """PKCE S256: BASE64URL(SHA256(verifier)) without padding (RFC 7636, 4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def start(conn, settings: Settings, binding: Mapping[str, str]) -> str:
    """The authorization URL to send the operator to, with a fresh single-use state whose
    record (kept ten minutes) holds the PKCE verifier and ``binding``: what the callback
    must show to finish the flow (the web process's business)."""
    check_oauth_settings(settings)
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]: within RFC 7636's 43-128
    with conn.pipeline(transaction=True) as pipe:
        pipe.hset(STATE_PREFIX + state, mapping={**binding, "verifier": verifier})
        pipe.expire(STATE_PREFIX + state, STATE_TTL)
        pipe.execute()
    query = urlencode({"client_id": settings.calendly_client_id, "response_type": "code",
                       "redirect_uri": settings.calendly_redirect_uri, "state": state,
                       "code_challenge": code_challenge(verifier), "code_challenge_method": "S256"})
    return f"{settings.calendly_auth_url}/oauth/authorize?{query}"


def pending(conn, state: str | None) -> dict[str, str] | None:
    """The record of a state this relay issued in the last ten minutes and nobody took yet."""
    if not state or len(state) > MAX_STATE_LENGTH:
        return None
    try:
        record = conn.hgetall(STATE_PREFIX + state)
    except ResponseError:  # a state from before PKCE (a plain string, WRONGTYPE): unusable now
        return None
    return {k.decode(): v.decode() for k, v in record.items()} or None


def take_state(conn, state: str) -> bool:
    """True for exactly one caller: the state is single-use, also under a race."""
    return conn.delete(STATE_PREFIX + state) == 1


def exchange_code(conn, settings: Settings, code: str, verifier: str) -> dict[str, Any]:
    check_oauth_settings(settings)
    tokens = _token_request(settings, {"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": settings.calendly_redirect_uri, "code_verifier": verifier})
    store_tokens(conn, tokens)
    return tokens


def store_tokens(conn, tokens: dict[str, Any]) -> None:
    expires_at = time.time() + float(tokens.get("expires_in") or 7200)
    conn.hset(TOKENS_KEY, mapping={
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "expires_at": str(expires_at),
        "owner": tokens.get("owner") or "",
        "organization": tokens.get("organization") or "",
    })


def stored(conn) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in conn.hgetall(TOKENS_KEY).items()}


def access_token(conn, settings: Settings) -> str:
    """A valid access token: the personal one if configured, else the stored OAuth one,
    refreshed first when it is about to expire."""
    if settings.calendly_access_token:
        return settings.calendly_access_token
    tokens = stored(conn)
    if not tokens:
        raise ConfigError("no Calendly credentials: set CALENDLY_ACCESS_TOKEN or connect through "
                          "/oauth/calendly/start")
    if float(tokens["expires_at"]) - time.time() > REFRESH_MARGIN:
        return tokens["access_token"]
    return refresh(conn, settings, tokens["refresh_token"])


def refresh(conn, settings: Settings, seen_refresh_token: str) -> str:
    """Refresh once across all processes; everyone else waits and reads the result."""
    check_oauth_settings(settings)
    with held(conn, LOCK_KEY, LOCK_TTL, wait=LOCK_WAIT) as acquired:
        if not acquired:
            raise OAuthError("timed out waiting for another process to refresh the Calendly token")
        tokens = stored(conn)
        if tokens.get("refresh_token") != seen_refresh_token:  # someone refreshed meanwhile
            return tokens["access_token"]
        fresh = _token_request(settings, {"grant_type": "refresh_token", "refresh_token": seen_refresh_token})
        store_tokens(conn, fresh)
        return fresh["access_token"]


def _token_request(settings: Settings, form: dict[str, str]) -> dict[str, Any]:
    http = HttpClient(settings.calendly_auth_url, _unreachable,
                      auth=(settings.calendly_client_id, settings.calendly_client_secret))
    response = http.request("POST", "/oauth/token", data=form)
    data = json_body(response)
    if not isinstance(data, dict):
        data = {}
    if response.status_code >= 400 or "access_token" not in data:
        reason = data.get("error_description") or data.get("error") or f"HTTP {response.status_code}"
        raise OAuthError(f"Calendly refused the token request: {reason}", status=response.status_code)
    try:
        float(data.get("expires_in") or 7200)
    except (TypeError, ValueError):
        raise OAuthError("Calendly's token answer has an unreadable expires_in") from None
    if not data.get("refresh_token"):
        raise OAuthError("Calendly's token answer has no refresh token")
    return data


def _unreachable(error: requests.RequestException) -> OAuthError:
    return OAuthError(f"cannot reach Calendly's OAuth server ({type(error).__name__})")


def api_client(conn, settings: Settings, **options) -> CalendlyClient:
    """The Calendly client with whichever credentials the relay has."""
    if not settings.calendly_access_token and not conn.exists(TOKENS_KEY):
        raise ConfigError("no Calendly credentials: set CALENDLY_ACCESS_TOKEN or connect through "
                          "/oauth/calendly/start")
    return CalendlyClient(settings.calendly_api_url, lambda: access_token(conn, settings), **options)
