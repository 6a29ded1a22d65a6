"""The Calendly API v2 client: bearer auth, timeouts, pagination, rate limits, clear errors.

Facts (shared/research/calendly.md §4): ``count`` is at most 100 and pages chain through
``pagination.next_page_token``; over the limit Calendly answers 429 with
``X-RateLimit-Reset`` (seconds until the window resets) and no Retry-After.

A 403 means one of three things, which the relay treats differently (``Forbidden``):
- a missing scope: since 2026-03-03 tokens and OAuth apps carry scopes
  (https://developer.calendly.com/docs/authentication/scopes); the endpoint pages document
  the 403 as "Permission denied or insufficient scope", and the body names the scopes in
  ``required_scopes`` (``{"title": "Insufficient scope", "message": "This operation requires
  the scopes listed in the 'required_scopes' array.", "required_scopes": [...]}``, the
  message as quoted in n8n-io/n8n#33286);
- the plan: ``{"title": "Permission Denied", "message": "Please upgrade to a paid Calendly
  account."}`` since https://developer.calendly.com/release-notes/2026/11/3 ("Please
  upgrade your Calendly account to Professional" before);
- any other refusal, e.g. an organization listing by a member who is not an owner or admin
  ("You do not have permission to access this resource.").
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import requests

from shared.http import HttpClient, json_body

log = logging.getLogger("relay.calendly")

PAGE_SIZE = 100
CANONICAL_HOST = "api.calendly.com"
MAX_RATE_LIMIT_WAITS = 5
MAX_RATE_LIMIT_WAIT = 120.0


class CalendlyError(Exception):
    """An API call failed; the message says why in operator's terms."""

    def __init__(self, message: str, status: int | None = None, title: str | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.title = title
        self.retry_after = retry_after
        """Seconds until Calendly's rate limit resets (429)."""


class AlreadyExists(CalendlyError):
    """409: e.g. a webhook subscription for this URL exists already."""


class NotFound(CalendlyError):
    pass


MISSING_SCOPE = "missing_scope"
PLAN = "plan"
PERMISSION = "permission"


class Forbidden(CalendlyError):
    """403, classified: ``reason`` is MISSING_SCOPE (``scopes`` names them), PLAN or
    PERMISSION; ``path`` is the API path that was refused (which feature it belongs to)."""

    def __init__(self, message: str, reason: str, scopes: tuple[str, ...] = (), path: str = "",
                 title: str | None = None):
        super().__init__(message, status=403, title=title)
        self.reason = reason
        self.scopes = scopes
        self.path = path


def classify_forbidden(data: Any) -> tuple[str, tuple[str, ...]]:
    """(reason, scopes) of a 403 body, by what Calendly documents (module docstring)."""
    if not isinstance(data, dict):
        return PERMISSION, ()
    required = data.get("required_scopes")
    if isinstance(required, list):
        return MISSING_SCOPE, tuple(str(scope) for scope in required if isinstance(scope, str))
    if str(data.get("title") or "").strip().lower() == "insufficient scope":
        return MISSING_SCOPE, ()
    if "upgrade" in str(data.get("message") or "").lower():
        return PLAN, ()
    return PERMISSION, ()


EXPLANATIONS = {
    401: "the Calendly token was refused (expired, revoked or wrong): check CALENDLY_ACCESS_TOKEN or reconnect OAuth",
    404: "Calendly has no such resource",
    409: "it already exists in Calendly",
}


class CalendlyClient:
    def __init__(self, base_url: str, token: str | Callable[[], str], session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, min_interval: float = 0.0,
                 rate_limit_waits: int = MAX_RATE_LIMIT_WAITS):
        self.http = HttpClient(base_url, _unreachable, session=session)
        self.base = self.http.base
        self.token = token if callable(token) else (lambda: token)
        self.sleep = sleep
        self.min_interval = min_interval
        """Seconds between calls, to stay under the rate limit in long runs (backfill)."""
        self.rate_limit_waits = rate_limit_waits
        """How often a 429 is waited out here; a job (which has a timeout) passes 0 and is
        retried later instead."""
        self._last_call = 0.0

    def url(self, path_or_url: str) -> str:
        """A path on the API, or an absolute URI Calendly gave us, which must point at the
        same API: the bearer token is never sent to another host."""
        if not path_or_url.startswith(("http://", "https://")):
            return self.base + "/" + path_or_url.lstrip("/")
        given, base = urlsplit(path_or_url), urlsplit(self.base)
        if (given.scheme, given.netloc) == (base.scheme, base.netloc):
            return path_or_url
        if given.netloc == CANONICAL_HOST:  # Calendly's own URIs, when the base is a proxy or a fake
            return self.base + given.path + (f"?{given.query}" if given.query else "")
        raise CalendlyError(f"refusing to send the Calendly token to {given.scheme}://{given.netloc}")

    def request(self, method: str, path: str, params: dict | None = None, body: Any = None) -> Any:
        for waited in range(self.rate_limit_waits + 1):
            self._pace()
            response = self.http.request(method, self.url(path), params=params, json=body,
                                         headers={"Authorization": f"Bearer {self.token()}"})
            if response.status_code != 429:
                return self._result(response, urlsplit(self.url(path)).path)
            wait = _reset_seconds(response)
            if waited == self.rate_limit_waits:
                raise CalendlyError("Calendly kept answering 429 (rate limited); try again later", status=429,
                                    retry_after=wait)
            log.warning("Calendly rate limit reached; waiting %.0f s", wait, extra={"wait": wait})
            self.sleep(wait)

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body=body)

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def paginate(self, path: str, **params) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following ``page_token`` page after page."""
        params = {**params, "count": PAGE_SIZE}
        while True:
            page = self.get(path, **params) or {}
            yield from page.get("collection") or []
            token = (page.get("pagination") or {}).get("next_page_token")
            if not token or token == params.get("page_token"):  # the end, or a page repeating
                return
            params["page_token"] = token

    def me(self) -> dict[str, Any]:
        return self.get("/users/me")["resource"]

    def scope_params(self) -> tuple[dict[str, str], dict[str, str]]:
        """Query parameters for the organization's collections and for the user's."""
        me = self.me()
        return {"organization": me["current_organization"]}, {"user": me["uri"]}

    def _pace(self) -> None:
        if self.min_interval:
            wait = self._last_call + self.min_interval - time.monotonic()
            if wait > 0:
                self.sleep(wait)
            self._last_call = time.monotonic()

    @staticmethod
    def _result(response: requests.Response, path: str = "") -> Any:
        status = response.status_code
        data = json_body(response)
        if status < 400:
            return data
        title = data.get("title") if isinstance(data, dict) else None
        detail = data.get("message") if isinstance(data, dict) else None
        if status == 403:
            raise _forbidden(data, path, title, detail)
        if status == 422 or (status == 400 and detail):
            details = "; ".join(
                f"{d.get('parameter')}: {d.get('message')}" for d in (data.get("details") or []) if isinstance(d, dict)
            ) if isinstance(data, dict) else ""
            message = f"Calendly rejected the request: {detail or title or 'invalid'}" + (f" ({details})" if details else "")
        else:
            message = EXPLANATIONS.get(status, f"Calendly answered HTTP {status}")
            if detail:
                message += f" — Calendly says: {detail}"
        kind = AlreadyExists if status == 409 else NotFound if status == 404 else CalendlyError
        raise kind(message, status=status, title=title)


FORBIDDEN_EXPLANATIONS = {
    MISSING_SCOPE: "Calendly refused the request: the token lacks the scope {scopes} (grant it to the personal "
                   "access token or the OAuth app; README, Calendly scopes)",
    PLAN: "Calendly refused the request: the Calendly plan does not include it",
    PERMISSION: "Calendly refused the request: the token's user may not do this (an organization-wide "
                "request needs an owner or admin)",
}


def _forbidden(data: Any, path: str, title: str | None, detail: str | None) -> Forbidden:
    reason, scopes = classify_forbidden(data)
    message = FORBIDDEN_EXPLANATIONS[reason].format(scopes=", ".join(scopes) or "it needs")
    if detail:
        message += f" — Calendly says: {detail}"
    return Forbidden(message, reason, scopes, path, title)


def _unreachable(error: requests.RequestException) -> CalendlyError:
    return CalendlyError(f"cannot reach Calendly ({type(error).__name__})")


def _reset_seconds(response: requests.Response) -> float:
    value = response.headers.get("X-RateLimit-Reset")
    try:
        return min(MAX_RATE_LIMIT_WAIT, max(1.0, float(value)))
    except (TypeError, ValueError):
        return 60.0


def calendly_time(moment: datetime) -> str:
    """Calendly's format: UTC, microseconds, ``Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def uuid_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]
