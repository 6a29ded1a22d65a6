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
