"""The providers' HTTP client: the environment's proxy and CA settings, read once."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.http import HttpClient


def unreachable(error):
    return RuntimeError("unreachable")


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy",
                 "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_environments_proxy_and_ca_bundle_are_read_as_requests_would(clean_env, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    clean_env.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    clean_env.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    client = HttpClient("https://api.brevo.com/v3", unreachable)
    assert client.session.proxies.get("https") == "http://proxy.example:3128"
    assert client.session.verify == str(bundle)


def test_no_proxy_for_the_clients_host_is_honoured(clean_env):
    clean_env.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    clean_env.setenv("NO_PROXY", "api.brevo.com")
    assert not HttpClient("https://api.brevo.com/v3", unreachable).session.proxies


def test_a_request_does_not_read_the_environment_again(clean_env, monkeypatch):
    import requests.sessions

    client = HttpClient("http://127.0.0.1:9", unreachable)
    calls = []
    monkeypatch.setattr(requests.sessions, "get_environ_proxies", lambda *a, **k: calls.append(a) or {})
    with pytest.raises(RuntimeError):  # nothing listens on port 9
        client.request("GET", "/")
    assert calls == []


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with 200 and a cookie, except /moved (a 302 to ``location``),
    and records what each request carried and from which client port."""

    protocol_version = "HTTP/1.1"
    seen: list[dict] = []
    location = "/here"

    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                          "body": body, "port": self.client_address[1], "host": self.server.server_port})
        status, headers = (302, {"Location": self.location}) if self.path == "/moved" else (200, {})
        self.send_response(status)
        for name, value in {**headers, "Set-Cookie": "tracker=1; Path=/", "Content-Length": "2"}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def servers():
    Recorder.seen = []
    started = [ThreadingHTTPServer(("127.0.0.1", 0), Recorder) for _ in range(2)]
    for server in started:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [f"http://127.0.0.1:{server.server_port}" for server in started]
    for server in started:
        server.shutdown()
        server.server_close()


def test_a_request_carries_the_clients_headers_and_auth_with_its_own_and_reuses_the_connection(clean_env, servers):
    client = HttpClient(servers[0] + "/v1", unreachable, auth=("key", "secret"), headers={"api-key": "k"})
    client.request("POST", "/messages", json={"to": ["+14045551234"]}, headers={"X-Extra": "1"})
    client.request("GET", "/contacts", params={"email": "a@b.example"})
    first, second = Recorder.seen
    assert (first["method"], first["path"], json.loads(first["body"])) == ("POST", "/v1/messages",
                                                                            {"to": ["+14045551234"]})
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["headers"]["Authorization"] == "Basic " + base64.b64encode(b"key:secret").decode()
    assert first["headers"]["api-key"] == "k" and first["headers"]["X-Extra"] == "1"
    assert second["path"] == "/v1/contacts?email=a%40b.example" and "X-Extra" not in second["headers"]
    assert second["port"] == first["port"]  # the same kept-alive connection


def test_a_cookie_a_provider_sets_is_not_sent_back(clean_env, servers):
    client = HttpClient(servers[0], unreachable)
    client.request("GET", "/a")
    client.request("GET", "/b")
    assert "Cookie" not in Recorder.seen[1]["headers"]


def test_a_redirect_is_followed_and_a_token_is_not_carried_to_another_host(clean_env, servers):
    client = HttpClient(servers[0], unreachable)
    Recorder.location = "/here"
    response = client.request("GET", "/moved", headers={"Authorization": "Bearer t"})
    assert (response.status_code, Recorder.seen[-1]["path"]) == (200, "/here")
    assert Recorder.seen[-1]["headers"]["Authorization"] == "Bearer t"
    Recorder.location = servers[1] + "/there"
    response = client.request("GET", "/moved", headers={"Authorization": "Bearer t"})
    assert response.status_code == 200
    assert Recorder.seen[-1]["path"] == "/there" and Recorder.seen[-1]["host"] != Recorder.seen[0]["host"]
    assert "Authorization" not in Recorder.seen[-1]["headers"]


def test_a_refused_connection_becomes_the_callers_error(clean_env):
    with pytest.raises(RuntimeError, match="unreachable"):
        HttpClient("http://127.0.0.1:9", unreachable).request("POST", "/", json={})
