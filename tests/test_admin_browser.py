"""The admin page in a real browser (headless Chromium through Selenium): sign in, send a
simulated booking, see it appear. .ci/run installs Debian's chromium and chromium-driver."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from shared.redis_conn import connect
from shared.settings import Settings
from tests.helpers import SIGNING_KEY, free_port, wait_until
from web.app import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ADMIN = "browser-admin-token"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture
def site(redis_url):
    app = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN),
                     redis_client=connect(redis_url, fail_fast=True))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1280,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # to see Content-Security-Policy reports
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_sign_in_send_a_booking_and_see_it(site, browser, tmp_path):
    from selenium.webdriver.common.by import By

    assert requests.get(f"{site}/admin", timeout=10).status_code == 401
    browser.get(f"{site}/admin")
    browser.find_element(By.ID, "token").send_keys(ADMIN)
    browser.find_element(By.ID, "sign-in").click()
    wait_until(lambda: browser.find_elements(By.ID, "deliveries"), timeout=15, what="the dashboard")
    assert "none yet" in browser.find_element(By.ID, "deliveries").text

    simulate = subprocess.run(
        [str(BIN / "relay"), "simulate", "invitee.created", "--url", f"{site}/webhooks/calendly",
         "--key", SIGNING_KEY, "--name", "Jane", "--email", "jane.doe@example.com"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert simulate.returncode == 0, simulate.stdout + simulate.stderr

    browser.refresh()
    table = browser.find_element(By.ID, "deliveries").text
    assert "invitee.created" in table and "j***@example.com" in table and "queued" in table
    assert "jane.doe@example.com" not in browser.page_source
    # The Content-Security-Policy lets the page's own stylesheet apply, and blocks nothing it uses.
    assert browser.find_element(By.TAG_NAME, "h1").value_of_css_property("font-size") == "22.4px"  # 1.4rem
    assert browser.find_element(By.CLASS_NAME, "key-b").value_of_css_property("color") == "rgba(59, 125, 216, 1)"
    blocked = [entry["message"] for entry in browser.get_log("browser")
               if "Content Security Policy" in entry["message"]]
    assert blocked == []
    browser.save_screenshot(str(tmp_path / "admin.png"))
    if os.environ.get("RELAY_SCREENSHOTS"):
        shutil.copy(tmp_path / "admin.png", os.environ["RELAY_SCREENSHOTS"])


def test_connect_calendly_through_a_real_cross_site_redirect(redis_url, browser):
    """The OAuth callback arrives as a redirect from another site, after the operator clicks
    Allow there (auth.calendly.com; here the fake Calendly on localhost, another site than
    127.0.0.1). Chromium sends the Lax flow cookie on that navigation and not the Strict
    session cookie, which is why the state is bound through a cookie of its own (web/oauth.py)."""
    from flask import request
    from selenium.webdriver.common.by import By

    from shared.calendly import oauth
    from tests.fakes import FakeCalendly

    port = free_port()
    site = f"http://127.0.0.1:{port}"
    conn = connect(redis_url, fail_fast=True)
    arrivals: list[tuple[str, set[str]]] = []
    with FakeCalendly() as calendly:
        calendly.consent_page = True
        settings = Settings(signing_key=SIGNING_KEY, admin_token=ADMIN, calendly_api_url=calendly.url,
                            calendly_auth_url=f"http://localhost:{calendly.server.server_port}",
                            calendly_client_id=FakeCalendly.CLIENT[0], calendly_client_secret=FakeCalendly.CLIENT[1],
                            calendly_redirect_uri=f"{site}/oauth/calendly/callback")
        app = create_app(settings, redis_client=conn)
        app.before_request(lambda: arrivals.append((request.path, set(request.cookies))))
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            browser.get(f"{site}/admin")
            browser.find_element(By.ID, "token").send_keys(ADMIN)
            browser.find_element(By.ID, "sign-in").click()
            wait_until(lambda: browser.find_elements(By.ID, "deliveries"), timeout=15, what="the dashboard")
            browser.find_element(By.LINK_TEXT, "connect Calendly (OAuth)").click()
            wait_until(lambda: browser.find_elements(By.ID, "allow"), timeout=15, what="Calendly's consent page")
            browser.find_element(By.ID, "allow").click()
            wait_until(lambda: "connected" in browser.page_source, timeout=15, what="the callback's answer")
        finally:
            server.shutdown()
    assert oauth.stored(conn)["owner"] == calendly.user
    started = [cookies for path, cookies in arrivals if path == "/oauth/calendly/start"]
    returned = [cookies for path, cookies in arrivals if path == "/oauth/calendly/callback"]
    assert started == [{"relay_admin"}]
    assert returned == [{"relay_oauth"}]  # the flow cookie came back; the Strict session cookie did not


def sign_in(browser, site: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{site}/admin")
    browser.find_element(By.ID, "token").send_keys(ADMIN)
    browser.find_element(By.ID, "sign-in").click()
    wait_until(lambda: browser.find_elements(By.ID, "deliveries"), timeout=15, what="the dashboard")


def test_follow_a_booking_s_messages_from_the_dashboard_the_search_and_the_list(site, browser, redis_url, tmp_path):
    """A booking applied by the worker, two of its reminders in the ledger (one delivered,
    one failed): the operator opens the booking from the recent deliveries, finds it again
    by the invitee's e-mail address, and narrows the messages list to the failed reminder."""
    import time

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from shared import keys, ledger
    from shared.calendly import samples
    from shared.vocabulary import LedgerEvent
    from tests.helpers import WEBHOOK, run_jobs, signed_headers

    conn = connect(redis_url, fail_fast=True)
    payload = samples.invitee_payload(name="Jane", email="jane.doe@example.com", phone="+1 404-555-1234")
    raw = samples.body(samples.envelope("invitee.created", payload))
    assert requests.post(f"{site}{WEBHOOK}", data=raw, headers=signed_headers(raw), timeout=10).status_code == 200
    run_jobs(conn)
    now = time.time() - 600
    stories = {"delivered": (7200, [(LedgerEvent.SENT, {"provider_id": "el-1"}), (LedgerEvent.DELIVERED, {})]),
               "failed": (600, [(LedgerEvent.FAILED, {"code": "4001", "reason": "template not found"})])}
    for offset, events in stories.values():
        message = ledger.message_id(f"sms|reminder|{offset}|{payload['uri']}")
        ledger.record(conn, message, LedgerEvent.PLANNED, at=now, booking=payload["uri"], kind="reminder",
                      offset=offset, to="+1404*****34", template="103", due=now + 60)
        for n, (name, detail) in enumerate(events, start=1):
            ledger.record(conn, message, name, at=now + n, **detail)
    booking_path = f"/admin/bookings/{keys.digest(payload['uri'])}"

    sign_in(browser, site)
    browser.find_element(By.CSS_SELECTOR, "#deliveries a").click()
    wait_until(lambda: browser.find_elements(By.ID, "record"), timeout=15, what="the booking page")
    assert browser.current_url == f"{site}{booking_path}"
    assert browser.find_element(By.ID, "booking-status").text == "active"
    messages = browser.find_elements(By.CLASS_NAME, "message")
    assert len(messages) >= 2 and "template not found" in browser.page_source
    assert "+1404*****34" in browser.page_source and "jane.doe@" not in browser.page_source

    browser.find_element(By.LINK_TEXT, "admin").click()
    browser.save_screenshot(str(tmp_path / "dashboard.png"))
    browser.find_element(By.ID, "search").send_keys("Jane.Doe@example.com")
    browser.find_element(By.ID, "find").click()
    wait_until(lambda: browser.current_url.endswith(booking_path), timeout=15, what="the search's answer")

    browser.get(f"{site}/admin/messages")
    browser.find_element(By.CSS_SELECTOR, "#state-filter").find_element(By.LINK_TEXT, "failed").click()
    wait_until(lambda: "state=failed" in browser.current_url, timeout=15, what="the failed messages")
    Select(browser.find_element(By.ID, "kind")).select_by_value("reminder")
    browser.find_element(By.ID, "apply-filter").click()
    wait_until(lambda: "kind=reminder" in browser.current_url, timeout=15, what="the kind filter")
    browser.save_screenshot(str(tmp_path / "messages.png"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#messages tr")[1:]
    assert len(rows) == 1 and "failed" in rows[0].text and "4001" in rows[0].text
    rows[0].find_element(By.LINK_TEXT, "booking").click()
    wait_until(lambda: booking_path in browser.current_url, timeout=15, what="the row's booking")
    blocked = [entry["message"] for entry in browser.get_log("browser")
               if "Content Security Policy" in entry["message"]]
    assert blocked == []
    browser.save_screenshot(str(tmp_path / "booking.png"))
