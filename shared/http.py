"""One way to call a provider or Calendly over HTTP.

EngageLab, Brevo, Calendly's API and its OAuth server are each reached through an
``HttpClient``: one keep-alive session per client (a worker sends many messages through one
connection), both timeouts on every request (no call can hang a job or a web request), and
a network failure translated by the caller's ``unreachable`` into the caller's own error
(a provider's transient failure, a Calendly error), so nothing upstream sees ``requests``'
exceptions or their text (which can quote the URL).
"""

from __future__ import annotations

from typing import Any, Callable

import requests
from requests.structures import CaseInsensitiveDict

from shared import defaults

TIMEOUTS = (defaults.HTTP_CONNECT_TIMEOUT, defaults.HTTP_READ_TIMEOUT)


class HttpClient:
    def __init__(self, base_url: str, unreachable: Callable[[requests.RequestException], Exception], *,
                 auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None,
                 session: requests.Session | None = None):
        self.base = base_url.rstrip("/")
        self.unreachable = unreachable
        self.session = session or session_for(self.base)
        if auth is not None:
            self.session.auth = auth
        if headers:
            self.session.headers.update(headers)

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.base + "/" + path_or_url.lstrip("/")

    def request(self, method: str, path_or_url: str, *, headers: dict[str, str] | None = None,
                params: dict | None = None, json: Any = None, data: Any = None) -> requests.Response:
        """One request, prepared here and handed to the session's transport adapter.

        ``Session.request`` merges the session's cookies, hooks, parameters and headers
        and parses every answer's cookies into its jar: two thirds of a million
        instructions per message (a third of what requests costs a send), for APIs that
        take a key or a token and set no cookie the relay wants. The adapter is the same
        one ``Session.request`` would use (its connection pool, ``responses`` in the
        tests), with the session's proxies, CA bundle, headers and auth. A redirect is
        still followed as requests follows it (the token dropped on a change of host)."""
        merged = CaseInsensitiveDict(self.session.headers)
        merged.update(headers or {})
        prepared = requests.PreparedRequest()
        send = {"timeout": TIMEOUTS, "verify": self.session.verify, "proxies": self.session.proxies,
                "cert": self.session.cert}
        try:
            prepared.prepare(method=method, url=self.url(path_or_url), headers=merged, params=params, json=json,
                             data=data, auth=self.session.auth)
            response = self.session.get_adapter(prepared.url).send(prepared, stream=False, **send)
            if response.is_redirect:
                response = [response, *self.session.resolve_redirects(response, prepared, **send)][-1]
            response.content  # read whole, as Session.send does: the connection goes back to the pool
            return response
        except requests.RequestException as error:
            raise self.unreachable(error) from None


def session_for(base_url: str) -> requests.Session:
    """A session with the environment's proxy and CA-bundle settings for ``base_url`` read
    once, as requests would read them (HTTPS_PROXY and NO_PROXY, REQUESTS_CA_BUNDLE), instead
    of on every request: requests scans the whole environment per request, a third of the
    time it spends sending one message (bench/drain_profile.py). The environment of a
    running process does not change."""
    session = requests.Session()
    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.trust_env = False
    session.proxies.update(found["proxies"])
    session.verify = found["verify"]
    return session


def json_body(response: requests.Response) -> Any:
    """The decoded JSON body, or None when there is none or it is not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def retry_after(response: requests.Response, header: str = "Retry-After", margin: float = 0.0) -> float | None:
    """Seconds a provider asks to wait (``Retry-After``, Brevo's ``x-sib-ratelimit-reset``),
    plus ``margin``; None when it says nothing readable."""
    value = response.headers.get(header)
    try:
        return max(0.0, float(value)) + margin if value is not None else None
    except ValueError:
        return None
