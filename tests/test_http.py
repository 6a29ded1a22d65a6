"""The providers' HTTP client: the environment's proxy and CA settings, read once."""

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
