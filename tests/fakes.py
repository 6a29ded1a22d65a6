"""Local fake providers speaking real HTTP, for tests with real worker processes."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeProvider:
    """A threaded HTTP server that records every request and answers from a script.

    ``script`` maps a path to a list of (status, body, headers) answers used in turn;
    when a path's list runs out, ``respond`` answers (``default`` unless overridden)."""

    def __init__(self, default=(200, {}), tls=None):
        self.requests: list[dict[str, Any]] = []
        self.script: dict[str, list[tuple[int, Any, dict]]] = {}
        self.default = default
        self.delay = 0.0
        """Seconds to wait before answering: a slow provider."""
        self.outage: tuple[float, int, Any, dict] | None = None
        self.arrived = 0
        """Requests received so far, answered or not (a call in flight counts)."""
        self.drop_if_gone = False
        """A caller that hung up before the answer (its process killed) gets nothing done:
        the request is recorded with status 0. Otherwise the provider acts on it anyway."""
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs: clients reuse connections
            disable_nagle_algorithm = True  # headers and body go out separately: no 40 ms stall

            def do_POST(self):  # noqa: N802 (http.server's naming)
                provider.handle(self)

            do_PUT = do_GET = do_DELETE = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.tls = tls
        """A server-side ``ssl.SSLContext``: the fake answers over HTTPS, as the real APIs."""
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def fail_for(self, seconds: float, status: int, body: Any = None, headers: dict | None = None) -> None:
        """Answer every request with ``status`` for the next ``seconds``: an outage."""
        self.outage = (time.monotonic() + seconds, status, body, headers or {})

    def answer(self, path: str, status: int, body: Any, times: int = 1, headers: dict | None = None) -> None:
        with self.lock:
            self.script.setdefault(path, []).extend([(status, body, headers or {})] * times)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = handler.path.split("?", 1)[0]
        with self.lock:
            self.arrived += 1
        if self.delay:
            time.sleep(self.delay)
        if self.drop_if_gone and _hung_up(handler.connection):
            with self.lock:
                self.requests.append({"method": handler.command, "path": handler.path, "headers": dict(handler.headers),
                                      "body": body, "status": 0, "at": time.time()})
            handler.close_connection = True
            return
        with self.lock:
            answers = self.script.get(path) or []
            outage = self.outage if self.outage and time.monotonic() < self.outage[0] else None
            if outage:
                _, status, reply, headers = outage
            elif answers:
                status, reply, headers = answers.pop(0)
            else:
                query = dict(parse_qsl(handler.path.split("?", 1)[1])) if "?" in handler.path else {}
                status, reply, *more = self.respond(handler.command, path, body, dict(handler.headers), query=query)
                headers = more[0] if more else {}
            self.requests.append({"method": handler.command, "path": handler.path, "headers": dict(handler.headers),
                                  "body": body, "status": status, "at": time.time()})
        payload = b"" if reply is None else json.dumps(reply).encode() if not isinstance(reply, bytes) else reply
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if "Content-Type" not in headers:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def respond(self, method: str, path: str, body: Any, headers: dict, query: dict) -> tuple:
        """(status, body) or (status, body, headers)."""
        return self.default

    def received(self, path: str | None = None, status: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests
                    if (path is None or r["path"].startswith(path)) and (status is None or r["status"] == status)]


def _hung_up(sock) -> bool:
    """The peer closed its end (readable, and reading would return end-of-file)."""
    import select
    import socket

    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class FakeEngageLab(FakeProvider):
    """``POST /v1/messages``: accepts each message with a fresh message id.

    With ``callback_url`` set it calls back as EngageLab does (shared/engagelab_samples.py):
    after each send, a status row per ``callback_statuses`` (echoing the message's
    ``custom_args``), from a thread, ``callback_delay`` seconds later; ``reply`` posts a
    person's reply on demand. Signed with ``callback_secret`` and ``callback_username``
    when set (X-CALLBACK-ID), with ``callback_authorization`` as the Authorization header."""

    def __init__(self):
        super().__init__()
        self.counter = 0
        self.callback_url: str | None = None
        self.callback_username: str | None = None
        self.callback_secret: str | None = None
        self.callback_authorization: str | None = None
        self.callback_statuses: tuple[str, ...] = ("sent", "delivered")
        self.callback_delay = 0.05
        self.callbacks: list[tuple[int, bytes]] = []
        """(status answered, body) of every callback posted."""
        self.callback_threads: list[threading.Thread] = []

    def respond(self, method, path, body, headers, query):
        if path != "/v1/messages":
            return 404, {"code": 4001, "message": "not found"}
        self.counter += 1
        message_id = f"msg-{self.counter}"
        if self.callback_url and self.callback_statuses:
            to = (body.get("to") or [""])[0] if isinstance(body, dict) else ""
            args = body.get("custom_args") or {} if isinstance(body, dict) else {}
            self._call_back_later([self.status_row(message_id, status, to, args) for status in self.callback_statuses])
        return 200, {"plan_id": f"plan-{self.counter}", "total_count": 1, "accepted_count": 1,
                     "message_id": message_id}

    @staticmethod
    def status_row(message_id: str, status: str, to: str, custom_args: dict) -> dict:
        from shared import engagelab_samples

        row = engagelab_samples.status_row(message_id, status, to=to)
        row["custom_args"] = dict(custom_args)
        return row

    def reply(self, phone: str, text: str) -> int:
        """A person's reply, posted now; the receiver's status."""
        from shared import engagelab_samples

        return self.post_callback([engagelab_samples.reply_row(phone, text)])

    def post_callback(self, rows: list[dict]) -> int:
        import requests

        from shared import engagelab_samples
        from shared.engagelab_callback import HEADER, generate_header

        raw = engagelab_samples.body(rows)
        headers = {"Content-Type": "application/json"}
        if self.callback_secret:
            headers[HEADER] = generate_header(self.callback_secret, self.callback_username or "")
        if self.callback_authorization:
            headers["Authorization"] = self.callback_authorization
        try:
            status = requests.post(self.callback_url, data=raw, headers=headers, timeout=5).status_code
        except requests.RequestException:
            status = 0
        with self.lock:
            self.callbacks.append((status, raw))
        return status

    def _call_back_later(self, rows: list[dict]) -> None:
        def later():
            time.sleep(self.callback_delay)
            for row in rows:  # one row a request, as statuses come one at a time
                self.post_callback([row])

        thread = threading.Thread(target=later, daemon=True)
        self.callback_threads.append(thread)
        thread.start()

    def wait_for_callbacks(self, timeout: float = 10) -> None:
        for thread in list(self.callback_threads):
            thread.join(timeout)

    def messages(self) -> list[dict[str, Any]]:
        """Accepted sends: {to, template, params, custom_args}."""
        return [{"to": r["body"]["to"][0], "template": r["body"]["template"]["id"],
                 "params": r["body"]["template"]["params"], "custom_args": r["body"].get("custom_args")}
                for r in self.received("/v1/messages", status=200)]


class FakeBrevo(FakeProvider):
    """A stateful Brevo: contacts (email, attributes, lists), events and attribute
    definitions, with the behaviours the relay must cope with: upsert 201/204, a unique
    SMS number across contacts, unknown attributes refused, category attributes taking
    their numeric option id (a label is silently ignored, as Brevo does)."""

    API_KEY = "brevo-test-key"

    def __init__(self):
        super().__init__()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.attribute_defs: dict[str, dict[str, Any]] = {
            name: {"name": name, "category": "normal", "type": "text"} for name in ("FIRSTNAME", "LASTNAME", "SMS")
        }

    def respond(self, method, path, body, headers, query):
        if headers.get("api-key") != self.API_KEY:
            return 401, {"code": "unauthorized", "message": "Key not found"}
        if method == "POST" and path == "/contacts":
            return self.upsert(body)
        if method == "POST" and path == "/events":
            self.events.append(body)
            return 204, None
        if method == "PUT" and path.startswith("/contacts/") and not path.startswith("/contacts/attributes"):
            return self.update(unquote(path.split("/", 2)[2]), query.get("identifierType", "email_id"), body)
        if method == "GET" and path == "/contacts/attributes":
            return 200, {"attributes": list(self.attribute_defs.values())}
        if path.startswith("/contacts/attributes/"):
            _, _, _, category, name = path.split("/")
            return self.define(method, category, name, body)
        return 404, {"code": "document_not_found", "message": "not found"}

    def upsert(self, body):
        email = body.get("email")
        if not email:
            return 400, {"code": "missing_parameter", "message": "An email or SMS phone number is mandatory"}
        attributes = dict(body.get("attributes") or {})
        for name in attributes:
            if name not in self.attribute_defs:
                return 400, {"code": "invalid_parameter", "message": f"Attribute {name} does not exist"}
        sms = attributes.get("SMS")
        if sms and any(c["attributes"].get("SMS") == sms for e, c in self.contacts.items() if e != email):
            return 400, {"code": "duplicate_parameter",
                         "message": "Unable to update contact, SMS is already associated with another Contact",
                         "metadata": {"duplicate_identifiers": ["SMS"]}}
        for name, value in list(attributes.items()):
            definition = self.attribute_defs[name]
            if definition["category"] == "category":
                allowed = {option["value"] for option in definition.get("enumeration", [])}
                if value not in allowed:
                    del attributes[name]
        existing = self.contacts.get(email)
        if existing and not body.get("updateEnabled"):
            return 400, {"code": "duplicate_parameter", "message": "Contact already exist"}
        contact = existing or {"id": len(self.contacts) + 1, "attributes": {}, "listIds": set()}
        contact["attributes"].update(attributes)
        contact["listIds"].update(body.get("listIds") or [])
        self.contacts[email] = contact
        return (204, None) if existing else (201, {"id": contact["id"]})

    def update(self, identifier, identifier_type, body):
        """``PUT /contacts/{identifier}``: by e-mail or by the SMS attribute (phone_id);
        ``smsBlacklisted`` kept on the contact."""
        if identifier_type == "phone_id":
            found = [c for c in self.contacts.values() if c["attributes"].get("SMS") == identifier]
        else:
            found = [self.contacts[identifier]] if identifier in self.contacts else []
        if not found:
            return 404, {"code": "document_not_found", "message": "Contact does not exist"}
        for name in ("smsBlacklisted", "emailBlacklisted"):
            if name in (body or {}):
                found[0][name] = bool(body[name])
        found[0]["attributes"].update((body or {}).get("attributes") or {})
        return 204, None

    def define(self, method, category, name, body):
        if method == "POST":
            if name in self.attribute_defs:
                return 400, {"code": "duplicate_parameter", "message": "Attribute name already exist"}
            if not body:
                return 400, {"code": "missing_parameter", "message": "No inputs in the body"}
            definition = {"name": name, "category": category, "type": body.get("type")}
            if "enumeration" in body:
                definition["enumeration"] = body["enumeration"]
            self.attribute_defs[name] = definition
            return 201, None
        if method == "PUT" and name in self.attribute_defs:
            self.attribute_defs[name]["enumeration"] = body["enumeration"]
            return 204, None
        return 404, {"code": "document_not_found", "message": "Attribute not found"}

    def status_label(self, email):
        value = self.contacts[email]["attributes"].get("BOOKING_STATUS")
        options = {o["value"]: o["label"] for o in self.attribute_defs["BOOKING_STATUS"]["enumeration"]}
        return options.get(value)


ALL_SCOPES = frozenset({"users:read", "webhooks:read", "webhooks:write", "scheduled_events:read", "event_types:read",
                        "scheduling_links:write", "routing_forms:read"})
"""Every scope the relay uses, by their names in https://developer.calendly.com/docs/authentication/scopes."""

EVENT_READ_SCOPES = {"invitee.created": "scheduled_events:read", "invitee.canceled": "scheduled_events:read",
                     "invitee_no_show.created": "scheduled_events:read", "invitee_no_show.deleted": "scheduled_events:read",
                     "routing_form_submission.created": "routing_forms:read"}
"""The "Required Auth Scope" column of Create Webhook Subscription."""

SAMPLE_HOST = "https://api.calendly.com/users/0f1e2d3c-0000-4000-8000-0000000000a1"
"""The host in shared.calendly.samples' bookings; the fake makes it its own user."""


@dataclass
class Grant:
    """What a token may do: its scopes, whether its user is an owner/admin of the
    organization, and whether it came from the OAuth app (whose subscriptions Calendly
    signs with the app's key)."""
    scopes: frozenset[str] = ALL_SCOPES
    admin: bool = True
    oauth: bool = False


class FakeCalendly(FakeProvider):
    """Calendly's API as the relay uses it: users/me, webhook subscriptions, scheduled
    events and invitees (paged; ``max_page`` forces several pages), event types, routing
    forms and single-use scheduling links, and OAuth with single-use rotating refresh
    tokens. 429s are scripted with ``answer``.

    Like Calendly it checks each endpoint's scope (``add_token`` makes tokens with chosen
    scopes; the default token has them all), refuses what the plan lacks (``plan_lacks``),
    requires ``organization`` (and ``user`` for user scope) when listing subscriptions,
    refuses organization-wide listings to a member who is not an admin, and honours the
    filters. Subscriptions made with an OAuth token are signed with the app's key."""

    TOKEN = "calendly-pat"
    CLIENT = ("client-id", "client-secret")
    APP_SIGNING_KEY = "oauth-app-webhook-signing-key-Zq81"
    """Generated by Calendly for the OAuth app, for all of its subscriptions
    (https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures)."""

    SCOPE_REFUSAL = {"title": "Insufficient scope",
                     "message": "This operation requires the scopes listed in the 'required_scopes' array."}
    PLAN_REFUSAL = {"title": "Permission Denied", "message": "Please upgrade to a paid Calendly account."}
    ROLE_REFUSAL = {"title": "Permission Denied", "message": "You do not have permission to access this resource."}
    INVALID = {"title": "Invalid Argument", "message": "The supplied parameters are invalid."}

    def __init__(self, max_page: int = 100, tls=None):
        super().__init__(tls=tls)
        self.max_page = max_page
        self.tokens: dict[str, Grant] = {self.TOKEN: Grant()}
        self.oauth_grant = Grant(oauth=True)
        """What tokens from /oauth/token may do: the scopes the app was granted."""
        self.plan_lacks: set[str] = set()
        """Features the organization's plan does not include, e.g. {"routing_forms"}."""
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.signing_keys: dict[str, str | None] = {}
        """Subscription uuid → the key Calendly signs its deliveries with."""
        self.events: dict[str, dict[str, Any]] = {}
        self.invitees: dict[str, list[dict[str, Any]]] = {}
        self.refresh_tokens: set[str] = set()
        self.used_refresh_tokens: set[str] = set()
        self.refreshes = 0
        self.event_types: list[dict[str, Any]] = []
        self.routing_forms: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []
        self.codes: dict[str, dict[str, str]] = {}
        """Authorization codes issued by /oauth/authorize, with their PKCE challenge."""
        self.consent_page = False
        """Show an Allow button, as Calendly does, instead of approving at once: the way
        back to the relay is then a navigation started on this (other) site."""

    def __enter__(self):
        super().__enter__()
        self.user = f"{self.url}/users/USER1"
        self.organization = f"{self.url}/organizations/ORG1"
        self.add_event_type("30 Minute Meeting", "30min", 30, ident="a1b2c3d4-0000-4000-8000-00000000e7e1")
        return self

    def add_token(self, scopes=ALL_SCOPES, admin: bool = True) -> str:
        """A personal access token with these scopes, of an owner/admin or of a member."""
        token = f"pat-{uuid.uuid4()}"
        self.tokens[token] = Grant(frozenset(scopes), admin)
        return token

    def add_event_type(self, name: str, slug: str, duration: int, active: bool = True, ident: str | None = None,
                       owner: str | None = None) -> dict[str, Any]:
        """``samples``' default event type is there from the start (its UUID)."""
        ident = ident or str(uuid.uuid4())
        item = {"uri": f"https://api.calendly.com/event_types/{ident}", "name": name, "slug": slug,
                "duration": duration, "active": active, "kind": "solo",
                "scheduling_url": f"https://calendly.com/host/{slug}",
                "profile": {"owner": owner or self.user, "type": "User"}}
        self.event_types.append(item)
        return item

    # --- test setup -----------------------------------------------------------------
    def add_booking(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Register a booking built by shared.calendly.samples, rewritten to this host
        (its host becomes this fake's user)."""
        text = json.dumps(payload).replace(SAMPLE_HOST, self.user).replace("https://api.calendly.com", self.url)
        data = json.loads(text)
        event = data.pop("scheduled_event")
        event_id = event["uri"].rsplit("/", 1)[-1]
        self.events[event_id] = event
        self.invitees.setdefault(event_id, []).append(data)
        return data

    def cancel_booking(self, invitee_uri: str) -> None:
        for invitees in self.invitees.values():
            for invitee in invitees:
                if invitee["uri"] == invitee_uri:
                    invitee["status"] = "canceled"
                    invitee["cancellation"] = {"canceled_by": "Jane", "canceler_type": "invitee", "reason": None,
                                               "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())}

    def signed_delivery(self, subscription: dict[str, Any], envelope: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """A delivery of ``envelope`` for ``subscription`` as Calendly posts it: compact
        JSON, signed with the subscription's key (the OAuth app's, for an app's subscription)."""
        from shared.calendly import samples
        from shared.calendly.signature import HEADER, generate_header

        raw = samples.body(envelope)
        headers = {"Content-Type": "application/json"}
        key = self.signing_keys.get(subscription["uri"].rsplit("/", 1)[-1])
        if key:
            headers[HEADER] = generate_header(raw, key)
        return raw, headers

    # --- HTTP -----------------------------------------------------------------------
    REQUIRED_SCOPES = (  # (method, path prefix, scope), from each endpoint's page
        ("GET", "/users/me", "users:read"),
        ("GET", "/webhook_subscriptions", "webhooks:read"),
        ("POST", "/webhook_subscriptions", "webhooks:write"),
        ("DELETE", "/webhook_subscriptions", "webhooks:write"),
        ("GET", "/scheduled_events", "scheduled_events:read"),
        ("GET", "/event_types", "event_types:read"),
        ("GET", "/routing_forms", "routing_forms:read"),
        ("POST", "/scheduling_links", "scheduling_links:write"),
    )

    def respond(self, method, path, body, headers, query):
        if path == "/oauth/token":
            return self.oauth_token(body, headers)
        if path == "/oauth/authorize":
            return self.oauth_authorize(method, query)
        grant = self.tokens.get(headers.get("Authorization", "")[7:])
        if grant is None:
            return 401, {"title": "Unauthenticated", "message": "The access token is invalid"}
        missing = self.missing_scope(grant, method, path)
        if missing:
            return 403, {**self.SCOPE_REFUSAL, "required_scopes": [missing]}
        parts = path.strip("/").split("/")
        if path == "/users/me":
            return 200, {"resource": {"uri": self.user, "current_organization": self.organization, "name": "Host"}}
        if parts[0] == "webhook_subscriptions":
            return self.webhooks(grant, method, parts, body, query)
        if parts[0] == "scheduled_events" and method == "GET":
            return self.scheduled(grant, parts, query)
        if path == "/event_types" and method == "GET":
            return self.list_event_types(query)
        if path == "/routing_forms" and method == "GET":
            return self.list_routing_forms(query)
        if path == "/scheduling_links" and method == "POST":
            return self.create_link(body)
        return 404, {"title": "Resource Not Found", "message": "The server could not find the requested resource."}

    def missing_scope(self, grant: Grant, method: str, path: str) -> str | None:
        for wanted_method, prefix, scope in self.REQUIRED_SCOPES:
            if method == wanted_method and path.startswith(prefix):
                return None if self.allows(grant, scope) else scope
        return None

    @staticmethod
    def allows(grant: Grant, scope: str) -> bool:
        """"A :write scope implicitly includes the corresponding :read scope"."""
        return scope in grant.scopes or (scope.endswith(":read") and scope[:-5] + ":write" in grant.scopes)

    def page(self, items, query):
        count = min(int(query.get("count", 20)), self.max_page)
        offset = int(query.get("page_token") or 0)
        chunk = items[offset:offset + count]
        more = offset + count < len(items)
        return 200, {"collection": chunk, "pagination": {"count": len(chunk),
                                                         "next_page_token": str(offset + count) if more else None}}

    def invalid(self, parameter: str, message: str):
        return 400, {**self.INVALID, "details": [{"parameter": parameter, "message": message}]}

    def webhooks(self, grant, method, parts, body, query):
        if method == "GET" and len(parts) == 1:
            return self.list_webhooks(grant, query)
        if method == "POST":
            return self.create_webhook(grant, body)
        if method == "DELETE" and len(parts) == 2 and parts[1] in self.subscriptions:
            del self.subscriptions[parts[1]]
            return 204, None
        return 404, {"title": "Resource Not Found", "message": "no such subscription"}

    def list_webhooks(self, grant, query):
        """``organization`` is always required, ``user`` with user scope
        (https://developer.calendly.com/api-docs/calendly-api/webhooks/list-webhook-subscriptions)."""
        scope = query.get("scope")
        if not query.get("organization"):
            return self.invalid("organization", "is required")
        if scope not in ("organization", "user", "group"):
            return self.invalid("scope", "must be organization, user or group")
        if scope == "user" and not query.get("user"):
            return self.invalid("user", "is required when scope is user")
        if scope == "organization" and not grant.admin:
            return 403, self.ROLE_REFUSAL
        items = [s for s in self.subscriptions.values()
                 if s["scope"] == scope and s.get("organization") == query["organization"]
                 and (scope != "user" or s.get("user") == query["user"])]
        return self.page(items, query)

    def create_webhook(self, grant, body):
        if not isinstance(body, dict) or not body.get("url") or not body.get("events") or not body.get("organization"):
            return self.invalid("url", "url, events, organization and scope are required")
        if body.get("scope") == "organization" and not grant.admin:
            return 403, self.ROLE_REFUSAL
        if "routing_form_submission.created" in body["events"] and "routing_forms" in self.plan_lacks:
            return 403, self.PLAN_REFUSAL
        unreadable = [e for e in body["events"] if e in EVENT_READ_SCOPES and not self.allows(grant, EVENT_READ_SCOPES[e])]
        if unreadable:  # n8n-io/n8n#33286 observed a 400, not a 403, for a missing event read scope
            return self.invalid("events", f"{unreadable[0]} needs {EVENT_READ_SCOPES[unreadable[0]]}")
        if any(s["callback_url"] == body["url"] for s in self.subscriptions.values()):
            return 409, {"title": "Already Exists", "message": "Hook with this url already exists"}
        ident = str(uuid.uuid4())
        resource = {"uri": f"{self.url}/webhook_subscriptions/{ident}", "callback_url": body["url"],
                    "events": body["events"], "scope": body["scope"], "organization": body["organization"],
                    "user": body.get("user"), "state": "active", "retry_started_at": None,
                    "creator": self.user}
        self.subscriptions[ident] = resource
        # An app's subscriptions are signed with the key Calendly generated for the app;
        # with a personal token, with the signing_key given here (none: unsigned).
        self.signing_keys[ident] = self.APP_SIGNING_KEY if grant.oauth else body.get("signing_key")
        return 201, {"resource": resource}

    def scheduled(self, grant, parts, query):
        if len(parts) == 1:
            return self.list_scheduled(grant, query)
        event_id = parts[1]
        if event_id not in self.events:
            return 404, {"title": "Resource Not Found", "message": "no such event"}
        if len(parts) == 2:
            return 200, {"resource": self.events[event_id]}
        invitees = self.invitees.get(event_id, [])
        if len(parts) == 3:
            status = query.get("status")
            return self.page([i for i in invitees if not status or i["status"] == status], query)
        found = [i for i in invitees if i["uri"].endswith("/" + parts[3])]
        return (200, {"resource": found[0]}) if found else (404, {"title": "Resource Not Found", "message": "no"})

    def list_scheduled(self, grant, query):
        """``organization`` needs an owner/admin; ``user`` filters by host
        (https://developer.calendly.com/api-docs/calendly-api/scheduled-events/list-scheduled-events)."""
        if query.get("organization"):
            if not grant.admin:
                return 403, self.ROLE_REFUSAL
            if query["organization"] != self.organization:
                return self.page([], query)
        events = sorted(self.events.values(), key=lambda e: e["start_time"])
        lo, hi = query.get("min_start_time"), query.get("max_start_time")
        user = query.get("user")
        events = [e for e in events if e["status"] == query.get("status", e["status"])
                  and (not lo or e["start_time"] >= lo) and (not hi or e["start_time"] < hi)
                  and (not user or any(m.get("user") == user for m in e.get("event_memberships") or []))]
        return self.page(events, query)

    def list_event_types(self, query):
        if query.get("organization") == self.organization:
            return self.page(self.event_types, query)
        if query.get("user"):
            return self.page([e for e in self.event_types if e["profile"]["owner"] == query["user"]], query)
        return 400, {"title": "Invalid Argument", "message": "organization or user is required"}

    def list_routing_forms(self, query):
        if "routing_forms" in self.plan_lacks:
            return 403, self.PLAN_REFUSAL
        if not query.get("organization"):
            return self.invalid("organization", "is required")
        return self.page(self.routing_forms if query["organization"] == self.organization else [], query)

    def create_link(self, body):
        if not isinstance(body, dict) or body.get("max_event_count") != 1 or body.get("owner_type") != "EventType":
            return 400, {"title": "Invalid Argument", "message": "The supplied parameters are invalid.",
                         "details": [{"parameter": "max_event_count", "message": "must be 1"}]}
        owner = str(body.get("owner") or "").rsplit("/", 1)[-1]
        if not any(e["uri"].endswith("/" + owner) for e in self.event_types):
            return 404, {"title": "Resource Not Found", "message": "The event type was not found."}
        link = {"booking_url": f"https://calendly.com/d/{uuid.uuid4().hex[:8]}/rebook", "owner": body["owner"],
                "owner_type": "EventType"}
        self.links.append(link)
        return 201, {"resource": link}

    def oauth_authorize(self, method, query):
        """The operator approves (at once, or with the consent page's button): back to the
        redirect URI with a fresh code, which remembers its PKCE challenge (as Calendly's does)."""
        from urllib.parse import urlencode

        if query.get("client_id") != self.CLIENT[0] or query.get("response_type") != "code":
            return 400, {"error": "invalid_request"}
        if self.consent_page and method == "GET":
            page = (f'<title>Authorize</title><form method="post" action="/oauth/authorize?{urlencode(query)}">'
                    '<button id="allow">Allow</button></form>')
            return 200, page.encode(), {"Content-Type": "text/html; charset=utf-8"}
        if "code_challenge" in query and query.get("code_challenge_method") != "S256":
            return 400, {"error": "invalid_request", "error_description": "code_challenge_method must be S256"}
        code = f"code-{uuid.uuid4().hex}"
        self.codes[code] = {"challenge": query.get("code_challenge", ""), "redirect_uri": query["redirect_uri"]}
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return 302, None, {"Location": location}

    def oauth_token(self, body, headers):
        import base64
        import hashlib

        form = dict(parse_qsl(body)) if isinstance(body, str) else {}
        expected = "Basic " + base64.b64encode(":".join(self.CLIENT).encode()).decode()
        if headers.get("Authorization") != expected:
            return 401, {"error": "invalid_client"}
        issued = self.codes.pop(form.get("code", ""), None) if form.get("grant_type") == "authorization_code" else None
        if issued is not None:
            verifier = form.get("code_verifier", "")
            answer = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if issued["challenge"] and answer != issued["challenge"]:
                return 400, {"error": "invalid_grant",
                             "error_description": "code_verifier does not match the challenge"}
            if form.get("redirect_uri") != issued["redirect_uri"]:
                return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        elif form.get("grant_type") == "refresh_token":
            token = form.get("refresh_token")
            if token in self.used_refresh_tokens or token not in self.refresh_tokens:
                return 400, {"error": "invalid_grant", "error_description": "The refresh token is invalid"}
            self.used_refresh_tokens.add(token)
            self.refresh_tokens.discard(token)
            self.refreshes += 1
        elif form.get("grant_type") != "authorization_code" or form.get("code") != "good-code":
            return 400, {"error": "invalid_grant", "error_description": "bad code"}
        access, refresh = f"access-{uuid.uuid4()}", f"refresh-{uuid.uuid4()}"
        self.tokens[access] = self.oauth_grant
        self.refresh_tokens.add(refresh)
        return 200, {"token_type": "Bearer", "expires_in": 7200, "access_token": access, "refresh_token": refresh,
                     "scope": " ".join(sorted(self.oauth_grant.scopes)), "owner": self.user,
                     "organization": self.organization}
