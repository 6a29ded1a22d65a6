"""/admin and the operator's CLI: recent deliveries, upcoming reminders, failures and
their replay."""

import os
import subprocess
import time
import sys
from pathlib import Path

import pytest
from rq.registry import FailedJobRegistry

from shared import defaults
from shared.calendly import samples
from shared.settings import Settings
from tests.helpers import SIGNING_KEY, post_delivery, run_jobs
from web.app import create_app

ADMIN = "admin-page-token"
BIN = Path(sys.executable).parent


@pytest.fixture
def web(conn):
    return create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()


def sign_in(web):
    response = web.post("/admin/login", data={"token": ADMIN})
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and ADMIN not in cookie
    return cookie.split(";", 1)[0].split("=", 1)[1]


def fail_a_confirmation(conn, monkeypatch):
    from worker.provider_errors import PermanentError
    from worker.sms.console import ConsoleSmsBackend

    def refuse(self, message):
        raise PermanentError("engagelab", "template not found", code=4001, status=400)

    monkeypatch.setattr(ConsoleSmsBackend, "send", refuse)
    run_jobs(conn)
    monkeypatch.undo()


def test_without_the_token_the_page_is_401(web, conn):
    response = web.get("/admin")
    assert response.status_code == 401 and b"Admin token" in response.data
    assert web.post("/admin/login", data={"token": "guess"}).status_code == 401
    assert web.post("/admin/failed/x/retry").status_code == 401
    disabled = create_app(Settings(signing_key=SIGNING_KEY), redis_client=conn).test_client()
    assert disabled.get("/admin").status_code == 401
    assert disabled.post("/admin/login", data={"token": ""}).status_code == 403


def test_dashboard_shows_deliveries_reminders_failures_and_replays(web, conn, monkeypatch, caplog):
    payload = samples.invitee_payload(email="jane.doe@example.com")
    post_delivery(web, samples.envelope("invitee.created", payload))
    fail_a_confirmation(conn, monkeypatch)
    sign_in(web)
    page = web.get("/admin").get_data(as_text=True)
    assert "invitee.created" in page and "j***@example.com" in page and "jane.doe@" not in page
    assert page.count("reminder") >= 2 and "followup" in page
    assert "engagelab 4001: template not found" in page
    failed_id = FailedJobRegistry(defaults.SMS_QUEUE, connection=conn).get_job_ids()[0]
    assert web.post(f"/admin/failed/{failed_id}/retry").status_code == 303
    run_jobs(conn)
    assert "no failures" in web.get("/admin").get_data(as_text=True)
    assert any(r.name == "relay.sms.console" and r.sms_kind == "confirm" for r in caplog.records)
    assert web.post("/admin/logout").status_code == 303


def test_bearer_token_works_for_scripts(web):
    assert web.get("/admin", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200


def cli(redis_url, *args, **env):
    result = subprocess.run([str(BIN / "relay"), *args], env=dict(os.environ, REDIS_URL=redis_url, **env),
                            capture_output=True, text=True, timeout=60)
    return result


def test_cli_lists_reminders_and_failures_and_retries(web, conn, redis_url, monkeypatch):
    post_delivery(web, samples.envelope("invitee.created", samples.invitee_payload()))
    fail_a_confirmation(conn, monkeypatch)
    reminders = cli(redis_url, "reminders", "list")
    lines = reminders.stdout.splitlines()
    assert reminders.returncode == 0 and len(lines) == 3
    assert "reminder   24 hours before the start  [active]" in lines[0]
    assert "reminder   1 hour before the start  [active]" in lines[1]
    assert "followup   after the meeting" in lines[2]
    failed = cli(redis_url, "failed", "list")
    assert "engagelab 4001: template not found" in failed.stdout
    assert cli(redis_url, "failed", "retry", "no-such-job").returncode == 1
    retried = cli(redis_url, "failed", "retry", "--all")
    assert retried.returncode == 0 and "requeued 1 job(s)" in retried.stdout
    assert FailedJobRegistry(defaults.SMS_QUEUE, connection=conn).count == 0


def test_config_check_masks_secrets_and_checks_remotes(redis_url):
    from tests.fakes import FakeBrevo, FakeEngageLab

    with FakeEngageLab() as engagelab, FakeBrevo() as brevo:
        engagelab.answer("/v1/template-configs/101", 200, {"template_id": "101", "status": 2})
        engagelab.answer("/v1/template-configs/102", 200, {"template_id": "102", "status": 1})
        env = dict(SMS_BACKEND="engagelab", ENGAGELAB_DEV_KEY="k", ENGAGELAB_DEV_SECRET="very-secret",
                   ENGAGELAB_API_URL=engagelab.url, TEMPLATE_ID_CONFIRM="101", TEMPLATE_ID_CANCEL="102",
                   BREVO_API_KEY=FakeBrevo.API_KEY, BREVO_API_URL=brevo.url,
                   CALENDLY_WEBHOOK_SIGNING_KEY="new-signing-key-1234567,OldSigningKey-fedcba9876543210")
        local = cli(redis_url, "config", "check", **env)
        assert local.returncode == 0 and "very-secret" not in local.stdout and FakeBrevo.API_KEY not in local.stdout
        assert "OldSigningKey" not in local.stdout and "new-signing-key" not in local.stdout  # a rotation's keys
        assert "set (hidden)" in local.stdout
        remote = cli(redis_url, "config", "check", "--remote", **env)
    assert remote.returncode == 1
    assert "ok    EngageLab template 101 is approved" in remote.stdout
    assert "FAIL  EngageLab template 102 is pending review" in remote.stdout
    assert "FAIL  Brevo attribute MEETING_DATE is missing (run: relay crm setup)" in remote.stdout
    assert "ok    Brevo attribute FIRSTNAME exists" in remote.stdout


def test_config_check_names_a_bad_variable(redis_url):
    result = cli(redis_url, "config", "check", LOCALE="xx_YY")
    assert result.returncode == 2 and "LOCALE" in result.stderr


def test_signing_out_ends_the_session_everywhere_and_the_session_opens_metrics(conn):
    web = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()
    session = sign_in(web)
    assert web.get("/metrics").status_code == 200
    other = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()
    other.set_cookie("relay_admin", session)
    assert other.get("/admin").status_code == 200
    web.post("/admin/logout")
    assert other.get("/admin").status_code == 401  # the copied cookie no longer works
    assert web.get(f"/admin?token={ADMIN}").status_code == 401  # the token never travels in a URL


def test_changing_the_admin_token_ends_every_session(conn):
    session = sign_in(create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client())
    rotated = create_app(Settings(signing_key=SIGNING_KEY, admin_token="a-brand-new-admin-token"),
                         redis_client=conn).test_client()
    rotated.set_cookie("relay_admin", session)
    assert rotated.get("/admin").status_code == 401
    assert rotated.get("/metrics").status_code == 401
    assert rotated.get("/oauth/calendly/start").status_code == 401
    assert rotated.post("/admin/failed/x/retry").status_code == 401
    # Back on the old token the session stays dead: its record went with the first refusal.
    old = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()
    old.set_cookie("relay_admin", session)
    assert old.get("/admin").status_code == 401


def test_a_copy_of_redis_gives_neither_the_token_nor_a_usable_cookie(conn):
    web = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()
    session = sign_in(web)
    stored = b" ".join(key + b"=" + (conn.get(key) or b"") for key in conn.keys("relay:admin:*"))
    assert stored and ADMIN.encode() not in stored and session.encode() not in stored
    assert web.get("/admin").status_code == 200


@pytest.mark.parametrize("proxies, forwarded, secure", [
    (0, "https", False),            # no proxy trusted: the header is anyone's to send
    (1, "https", True),             # Heroku: the router says the client came over TLS
    (2, "https, http", True),       # a CDN that terminated TLS, then the router
    (1, "https, http", False),      # trusting only the router: it was reached over plain HTTP
    (2, "https", False),            # fewer hops than proxies: nothing is believed
])
def test_the_secure_flag_follows_the_trusted_proxies(conn, proxies, forwarded, secure):
    web = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN, trusted_proxies=proxies),
                     redis_client=conn).test_client()
    response = web.post("/admin/login", data={"token": ADMIN}, headers={"X-Forwarded-Proto": forwarded})
    assert response.status_code == 303
    assert ("Secure" in response.headers["Set-Cookie"].split(";", 1)[1]) is secure


def test_over_https_the_cookie_is_secure_without_any_proxy(conn):
    web = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()
    response = web.post("/admin/login", data={"token": ADMIN}, base_url="https://relay.example.com")
    assert "; Secure" in response.headers["Set-Cookie"]


def test_the_client_address_comes_from_the_trusted_proxies_only(conn):
    from flask import request

    def seen(proxies: int, forwarded_for: str) -> str:
        app = create_app(Settings(signing_key=SIGNING_KEY, trusted_proxies=proxies), redis_client=conn)
        app.add_url_rule("/whoami", "whoami", lambda: request.remote_addr)
        return app.test_client().get("/whoami", headers={"X-Forwarded-For": forwarded_for},
                                     environ_base={"REMOTE_ADDR": "10.0.0.9"}).get_data(as_text=True)

    assert seen(0, "203.0.113.7") == "10.0.0.9"
    assert seen(1, "198.51.100.1, 203.0.113.7") == "203.0.113.7"  # the first entry is the client's to forge
    assert seen(2, "198.51.100.1, 203.0.113.7") == "198.51.100.1"


LIMIT = defaults.ADMIN_SIGN_IN_FAILURES
ATTACKER = {"REMOTE_ADDR": "203.0.113.7"}
SOMEONE_ELSE = {"REMOTE_ADDR": "198.51.100.4"}


def everything_logged(caplog) -> str:
    return caplog.text + " ".join(str(vars(record)) for record in caplog.records)


def test_wrong_tokens_are_throttled_per_address_and_logged_without_the_token(web, conn, caplog):
    for n in range(LIMIT):
        refused = web.post("/admin/login", data={"token": f"guess-Qx7wrong-{n}"}, environ_base=ATTACKER)
        assert refused.status_code == 401 and "that is not the admin token" in refused.get_data(as_text=True)
    # The window is full: even the right token is refused unseen, so a lucky guess looks like the others.
    blocked = web.post("/admin/login", data={"token": ADMIN}, environ_base=ATTACKER)
    assert blocked.status_code == 429 and "Set-Cookie" not in blocked.headers
    assert 0 < int(blocked.headers["Retry-After"]) <= defaults.ADMIN_SIGN_IN_WINDOW
    assert "too many wrong admin tokens from your address: try again in 15 minutes" in blocked.get_data(as_text=True)
    assert web.get("/admin", environ_base=ATTACKER).status_code == 401  # no token presented, nothing to refuse
    # Another address signs in as usual.
    assert web.post("/admin/login", data={"token": ADMIN}, environ_base=SOMEONE_ELSE).status_code == 303

    failures = [r for r in caplog.records if r.name == "relay.web.auth"]
    assert len(failures) == LIMIT
    assert all(r.client == "203.0.113.7" and r.via == "form" and r.levelname == "WARNING" for r in failures)
    assert [r.failures for r in failures] == list(range(1, LIMIT + 1))
    assert "refused for" in failures[-1].getMessage() and "refused for" not in failures[-2].getMessage()
    assert "Qx7" not in everything_logged(caplog) and "guess-" not in everything_logged(caplog)

    # The window ends (its key expires) and the address may try again.
    for key in conn.scan_iter("relay:admin:failures:*"):
        conn.pexpire(key, 50)
    time.sleep(0.1)
    assert web.post("/admin/login", data={"token": ADMIN}, environ_base=ATTACKER).status_code == 303


def test_wrong_bearer_tokens_count_too(web, caplog):
    wrong = {"Authorization": "Bearer not-the-token-Zq9"}
    right = {"Authorization": f"Bearer {ADMIN}"}
    for n in range(LIMIT):
        path = ("/metrics", "/admin", "/oauth/calendly/start")[n % 3]
        assert web.get(path, headers=wrong, environ_base=ATTACKER).status_code == 401
    metrics = web.get("/metrics", headers=right, environ_base=ATTACKER)
    assert metrics.status_code == 429 and metrics.get_json()["error"] == "too_many_attempts"
    assert int(metrics.headers["Retry-After"]) > 0 and "try again in" in metrics.get_json()["message"]
    page = web.get("/admin", headers=right, environ_base=ATTACKER)
    assert page.status_code == 429 and "Retry-After" in page.headers and b"Admin token" in page.data
    assert web.get("/oauth/calendly/start", headers=right, environ_base=ATTACKER).status_code == 429
    assert web.post("/admin/login", data={"token": ADMIN}, environ_base=ATTACKER).status_code == 429  # one window
    assert {r.via for r in caplog.records if r.name == "relay.web.auth"} == {"bearer"}
    assert "Zq9" not in everything_logged(caplog)

    scraped = web.get("/metrics", headers=right, environ_base=SOMEONE_ELSE).get_data(as_text=True)
    assert f'relay_admin_auth_failures_total{{outcome="refused",via="bearer"}} {LIMIT}.0' in scraped
    assert 'relay_admin_auth_failures_total{outcome="throttled",via="bearer"} 3.0' in scraped
    assert 'relay_admin_auth_failures_total{outcome="throttled",via="form"} 1.0' in scraped


def test_concurrent_guesses_cannot_pass_the_limit(web):
    import threading

    statuses, lock = [], threading.Lock()

    def guess():
        for _ in range(5):
            status = web.post("/admin/login", data={"token": "wrong-token-x"}, environ_base=ATTACKER).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(401) == LIMIT and statuses.count(429) == 40 - LIMIT


def test_the_throttle_counts_what_the_trusted_proxies_say(conn):
    direct = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()
    # Untrusted X-Forwarded-For changes nothing: the attacker stays one address.
    for n in range(LIMIT):
        direct.post("/admin/login", data={"token": "wrong-token-x"}, environ_base=ATTACKER,
                    headers={"X-Forwarded-For": f"192.0.2.{n}"})
    assert direct.post("/admin/login", data={"token": ADMIN}, environ_base=ATTACKER,
                       headers={"X-Forwarded-For": "192.0.2.200"}).status_code == 429

    proxied = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN, trusted_proxies=1),
                         redis_client=conn).test_client()
    router = {"REMOTE_ADDR": "10.1.2.3"}
    for _ in range(LIMIT):
        proxied.post("/admin/login", data={"token": "wrong-token-x"}, environ_base=router,
                     headers={"X-Forwarded-For": "192.0.2.1"})
    assert proxied.post("/admin/login", data={"token": ADMIN}, environ_base=router,
                        headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 429
    assert proxied.post("/admin/login", data={"token": ADMIN}, environ_base=router,
                        headers={"X-Forwarded-For": "192.0.2.1, 192.0.2.2"}).status_code == 303


def test_ipv6_clients_are_counted_per_64(web):
    for n in range(LIMIT):
        web.post("/admin/login", data={"token": "wrong-token-x"},
                 environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{n + 1}"})
    same_network = {"REMOTE_ADDR": "2001:db8:1:2:ffff:ffff:ffff:fffe"}
    assert web.post("/admin/login", data={"token": ADMIN}, environ_base=same_network).status_code == 429
    assert web.post("/admin/login", data={"token": ADMIN},
                    environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"}).status_code == 303


SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def test_every_answer_carries_the_security_headers(web, conn):
    import base64
    import hashlib
    import re

    signed_in = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()
    sign_in(signed_in)
    answers = {
        "login page": web.get("/admin"),
        "wrong token": web.post("/admin/login", data={"token": "wrong-token-x"}),
        "dashboard": signed_in.get("/admin"),
        "replay notice": signed_in.post("/admin/failed/no-such-job/retry"),
        "metrics": signed_in.get("/metrics"),
        "oauth": signed_in.get("/oauth/calendly/start"),
        "webhook": web.post("/webhooks/calendly", data=b"{}"),
        "health": web.get("/healthz"),
        "not found": web.get("/nowhere"),
    }
    for name, response in answers.items():
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        policy = dict(part.split(" ", 1) for part in response.headers["Content-Security-Policy"].split("; "))
        assert policy == {"default-src": "'none'", "style-src": policy["style-src"], "form-action": "'self'",
                          "frame-ancestors": "'none'", "base-uri": "'none'"}, name
    for name in ("login page", "wrong token", "dashboard", "replay notice", "metrics", "oauth"):
        assert answers[name].headers["Cache-Control"] == "no-store", name
    assert "Cache-Control" not in answers["webhook"].headers

    # The policy allows the pages' one stylesheet by its hash, and the pages need nothing else.
    for name in ("login page", "dashboard", "replay notice"):
        page = answers[name].get_data(as_text=True)
        styles = re.findall(r"<style>(.*?)</style>", page, re.S)
        assert len(styles) == 1, name
        digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
        assert answers[name].headers["Content-Security-Policy"].count(f"style-src 'sha256-{digest}'") == 1, name
        assert not re.search(r"<script|\sstyle=|\son\w+=|<link|<img|<iframe", page), name


def test_a_count_without_a_window_gets_one(web, conn):
    """However the count lost its expiry, no address stays blocked for good."""
    for _ in range(LIMIT):
        web.post("/admin/login", data={"token": "wrong-token-x"}, environ_base=ATTACKER)
    (key,) = conn.keys("relay:admin:failures:*")
    conn.persist(key)
    blocked = web.post("/admin/login", data={"token": ADMIN}, environ_base=ATTACKER)
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == str(defaults.ADMIN_SIGN_IN_WINDOW)
    assert 0 < conn.ttl(key) <= defaults.ADMIN_SIGN_IN_WINDOW


def test_a_forwarded_request_without_trusted_proxies_is_warned_about_once(client, caplog):
    from web.request_frame import warn_untrusted_proxy

    warn_untrusted_proxy.cache_clear()
    for _ in range(3):
        client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
    warnings = [r for r in caplog.records if "TRUSTED_PROXIES is 0" in r.getMessage()]
    assert len(warnings) == 1
