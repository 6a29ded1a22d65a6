"""The Calendly API v2 client: bearer auth, timeouts, pagination, rate limits, clear errors.

Facts (shared/research/calendly.md §4): ``count`` is at most 100 and pages chain through
``pagination.next_page_token``; over the limit Calendly answers 429 with
``X-RateLimit-Reset`` (seconds until the window resets) and no Retry-After.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import requests

from shared import settings as defaults
from shared.http import json_body

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


EXPLANATIONS = {
    401: "the Calendly token was refused (expired, revoked or wrong): check CALENDLY_ACCESS_TOKEN or reconnect OAuth",
    403: "Calendly refused the request: the plan does not include it, or the token lacks the permission or scope",
    404: "Calendly has no such resource",
    409: "it already exists in Calendly",
}


class CalendlyClient:
    def __init__(self, base_url: str, token: str | Callable[[], str], session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, min_interval: float = 0.0,
                 rate_limit_waits: int = MAX_RATE_LIMIT_WAITS):
        self.base = base_url.rstrip("/")
        self.token = token if callable(token) else (lambda: token)
        self.session = session or requests.Session()
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
            try:
                response = self.session.request(
                    method, self.url(path), params=params, json=body,
                    headers={"Authorization": f"Bearer {self.token()}"},
                    timeout=(defaults.HTTP_CONNECT_TIMEOUT, defaults.HTTP_READ_TIMEOUT),
                )
            except requests.RequestException as error:
                raise CalendlyError(f"cannot reach Calendly ({type(error).__name__})") from None
            if response.status_code != 429:
                return self._result(response)
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
    def _result(response: requests.Response) -> Any:
        status = response.status_code
        data = json_body(response)
        if status < 400:
            return data
        title = data.get("title") if isinstance(data, dict) else None
        detail = data.get("message") if isinstance(data, dict) else None
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


def _reset_seconds(response: requests.Response) -> float:
    value = response.headers.get("X-RateLimit-Reset")
    try:
        return min(MAX_RATE_LIMIT_WAIT, max(1.0, float(value)))
    except (TypeError, ValueError):
        return 60.0


def uuid_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]
