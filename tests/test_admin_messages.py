"""/admin's story of every message: a booking's page (record, deliveries, each message's
timeline from the ledger), the messages list and its filters, the search by delivery id,
message id, invitee URI and e-mail address, and the unmatched replies. Against a real
Redis, with bookings applied by the worker and ledger entries recorded through the
ledger's own API."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from shared import keys, ledger, replies
from shared.booking import BookingRecord, BookingStore
from shared.calendly import samples
from shared.settings import Settings
from shared.vocabulary import BookingStatus, LedgerEvent
from tests.helpers import SIGNING_KEY, post_delivery, run_jobs
from web.app import create_app

ADMIN = "admin-messages-token"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def web(conn):
    client = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()
    assert client.post("/admin/login", data={"token": ADMIN}).status_code == 303
    return client


def book(web, conn, **options) -> dict:
    """A booking as the relay learns it: a signed delivery, applied by the worker."""
    payload = samples.invitee_payload(**options)
    assert post_delivery(web, samples.envelope("invitee.created", payload)).status_code == 200
    run_jobs(conn)
    return payload


def reminder_story(conn, invitee_uri: str, offset: int, *events, at: float) -> str:
    """A reminder's ledger entry: planned, then ``events`` ((name, detail), a minute apart)."""
    message = ledger.message_id(f"sms|reminder|{offset}|{invitee_uri}")
    ledger.record(conn, message, LedgerEvent.PLANNED, at=at, booking=invitee_uri, kind="reminder", offset=offset,
                  to="+1404*****34", template="103", due=at + 3600)
    for n, (name, detail) in enumerate(events, start=1):
        if name == LedgerEvent.SENT:
            ledger.attach_provider_id(conn, message, detail["provider_id"])
        ledger.record(conn, message, name, at=at + 60 * n, **detail)
    return message


def page(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def test_every_page_needs_the_admin(conn, web):
    anonymous = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()
    digest = "0" * 40
    for response in (anonymous.get(f"/admin/bookings/{digest}"), anonymous.get("/admin/messages"),
                     anonymous.post("/admin/search", data={"q": "jane@example.com"})):
        assert response.status_code == 401 and b"Admin token" in response.data
    assert anonymous.get("/admin/messages", headers=BEARER).status_code == 200
    wrong = anonymous.get("/admin/messages", headers={"Authorization": "Bearer not-the-admin-token"})
    assert wrong.status_code == 401
    assert web.get("/admin/messages").headers["Cache-Control"] == "no-store"


def test_a_booking_page_tells_each_message_from_decision_to_delivery(web, conn):
    payload = book(web, conn, phone="+1 404-555-1234", email="jane.doe@example.com", event_type_name="Intro call")
    uri = payload["uri"]
    now = time.time() - 3600
    delivered = reminder_story(conn, uri, 7200, (LedgerEvent.SENT, {"provider_id": "el-777"}),
                               (LedgerEvent.DELIVERED, {}), at=now)
    failed = reminder_story(conn, uri, 5400, (LedgerEvent.SENT, {"provider_id": "el-778"}),
                            (LedgerEvent.FAILED, {"code": "4102", "reason": "number unreachable"}), at=now)
    skipped = reminder_story(conn, uri, 600, (LedgerEvent.SKIPPED, {"reason": "too_late"}), at=now)

    dashboard = page(web.get("/admin"))
    assert f'<a href="/admin/bookings/{keys.digest(uri)}">active</a>' in dashboard  # from its upcoming reminders
    link = re.search(r'<a href="(/admin/bookings/[0-9a-f]{40})"><code>([0-9a-f]{32})</code>', dashboard)
    assert link, "each recent delivery links to its booking"
    booking = page(web.get(link.group(1)))
    assert 'id="booking-status">active<' in booking and "Intro call" in booking
    assert "+1404*****34" in booking and "j***@example.com" in booking
    assert "555-1234" not in booking and "4045551234" not in booking and "jane.doe@" not in booking
    assert link.group(2) in booking and "invitee.created" in booking  # its delivery
    for message in (delivered, failed, skipped):
        assert f'id="message-{message}"' in booking
    story = re.search(rf'id="message-{delivered}">(.*?)</div>', booking, re.S).group(1)
    assert "2 hours before" in story and "el-777" in story and "template 103" in story
    timeline = story.split('class="timeline"')[1]
    assert timeline.index(">planned<") < timeline.index(">sent<") < timeline.index(">delivered<")
    assert time.strftime("%Y-%m-%d %H:%M", time.gmtime(now + 60)) in story  # when it was sent
    assert "number unreachable" in booking and "4102" in booking and "too_late" in booking


def test_the_final_state_is_the_furthest_along_even_when_the_receipt_came_first(web, conn):
    uri = book(web, conn)["uri"]
    message = ledger.message_id(f"sms|reminder|7200|{uri}")
    now = time.time()
    ledger.record(conn, message, LedgerEvent.DELIVERED, at=now + 5)  # EngageLab's receipt, before the send
    ledger.record(conn, message, LedgerEvent.PLANNED, at=now, booking=uri, kind="reminder", offset=7200,
                  to="+1404*****34", template="103", due=now)
    ledger.record(conn, message, LedgerEvent.SENT, at=now + 1, provider_id="el-1")
    booking = page(web.get(f"/admin/bookings/{keys.digest(uri)}"))
    assert re.search(rf'id="message-{message}">\s*<h3>reminder · 2 hours before · <span class="">delivered</span>',
                     booking)


def test_search_finds_a_booking_by_each_key(web, conn):
    payload = book(web, conn, email="Jane.Doe@Example.com")
    uri, digest = payload["uri"], keys.digest(payload["uri"])
    message = reminder_story(conn, uri, 7200, at=time.time())
    delivery = json.loads(conn.lindex("relay:recent:deliveries", 0))["id"]
    for query in (delivery, uri, "  jane.doe@example.COM ", message, digest, delivery.upper()):
        found = web.post("/admin/search", data={"q": query})
        assert found.status_code == 303 and found.headers["Location"] == f"/admin/bookings/{digest}", query
    assert web.get(f"/admin/bookings/{delivery}").headers["Location"] == f"/admin/bookings/{digest}"

    other = book(web, conn, email="jane.doe@example.com", start=datetime.now(timezone.utc) + timedelta(days=9))
    both = page(web.post("/admin/search", data={"q": "jane.doe@example.com"}))
    assert f"/admin/bookings/{digest}" in both and f"/admin/bookings/{keys.digest(other['uri'])}" in both
    assert "jane.doe@" not in both and "j***@example.com" in both


@pytest.mark.parametrize("query, status, error", [
    ("nobody@example.com", 404, "no booking with the e-mail address n***@example.com"),
    ("https://api.calendly.com/scheduled_events/x/invitees/y", 404, "no booking record for that invitee URI"),
    ("0123456789abcdef0123456789abcdef", 404, "no booking for delivery 0123456789abcdef0123456789abcdef"),
    ("0123456789abcdef01", 404, "no message 0123456789abcdef01 in the ledger"),
    ("not an id", 400, "q: search for a delivery id, a message id, an invitee URI or an e-mail address"),
    ("   ", 400, "q: enter a delivery id"),
    ("x" * 600, 400, "at most 512 characters"),
])
def test_a_search_that_finds_nothing_says_what_was_looked_for(web, query, status, error):
    answer = web.post("/admin/search", data={"q": query})
    assert answer.status_code == status
    assert error in answer.get_json()["message"]
    assert answer.get_json()["error"] == ("not_found" if status == 404 else "invalid_search")


def test_an_unknown_booking_is_404_in_json_or_for_a_browser_in_html(web):
    for ident in ("0" * 40, "f" * 32, "not-a-booking"):
        answer = web.get(f"/admin/bookings/{ident}")
        assert answer.status_code == 404 and answer.get_json()["error"] == "not_found", ident
    browser = web.get(f"/admin/bookings/{'0' * 40}", headers=HTML)
    assert browser.status_code == 404 and browser.mimetype == "text/html"
    assert f"no booking {'0' * 40}" in browser.get_data(as_text=True)
    hostile = web.get("/admin/bookings/%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers=HTML)
    assert hostile.status_code == 404 and "<script>" not in hostile.get_data(as_text=True)


def test_the_messages_list_filters_by_state_and_kind_newest_first(web, conn):
    uri = "https://api.calendly.com/scheduled_events/e1/invitees/i1"  # the ledger alone: no worker's messages
    then = time.time() - 7200
    failed = reminder_story(conn, uri, 7200, (LedgerEvent.FAILED, {"code": "1", "reason": "unreachable"}), at=then)
    skipped = reminder_story(conn, uri, 600, (LedgerEvent.SKIPPED, {"reason": "too_late"}), at=then + 100)
    delivered = reminder_story(conn, uri, 5400, (LedgerEvent.SENT, {"provider_id": "el-5"}),
                               (LedgerEvent.DELIVERED, {}), at=then + 200)
    follow = ledger.message_id(f"sms|followup|after|{uri}")
    ledger.record(conn, follow, LedgerEvent.PLANNED, at=then + 300, booking=uri, kind="followup", offset=None,
                  to="+1404*****34", template="105", due=then + 9000)
    ledger.record(conn, follow, LedgerEvent.SKIPPED, at=then + 400, reason="template_disabled")

    def rows(query: str) -> list[str]:
        listed = page(web.get(f"/admin/messages{query}"))
        return re.findall(r'<a href="/admin/bookings/[0-9a-f]{40}#message-([0-9a-f]+)">', listed)

    everything = rows("?limit=1000")
    assert everything.index(follow) < everything.index(delivered) < everything.index(skipped) < \
        everything.index(failed)  # newest first
    assert rows("?state=failed") == [failed]
    assert rows("?state=skipped") == [follow, skipped]
    assert rows("?state=skipped&kind=followup") == [follow]
    assert rows("?state=delivered&kind=reminder") == [delivered]
    assert rows("?state=sent") == []
    assert rows("?state=skipped&limit=1") == [follow]
    listed = page(web.get("/admin/messages?kind=followup"))
    assert '<a href="/admin/messages?state=failed&amp;kind=followup">failed</a>' in listed  # filters as links
    assert '<option value="followup" selected>' in listed
    assert f'href="/admin/bookings/{keys.digest(uri)}#message-{follow}"' in listed


@pytest.mark.parametrize("query, error", [
    ("?state=lost", "invalid_state"), ("?kind=fax", "invalid_kind"), ("?limit=0", "invalid_limit"),
    ("?limit=lots", "invalid_limit"), ("?limit=100000", "invalid_limit"),
    ("?limit=%C2%B2", "invalid_limit"),
])
def test_a_bad_filter_is_400_saying_which(web, query, error):
    answer = web.get(f"/admin/messages{query}")
    assert answer.status_code == 400 and answer.get_json()["error"] == error
    assert answer.get_json()["message"].startswith(query[1:].split("=")[0] + ":")


def test_unmatched_replies_are_shown_masked_on_the_dashboard_and_the_messages_list(web, conn):
    replies.keep_unmatched(conn, "+447911123421", "Is the meeting at 3? call me on +14045551234", "unknown_word",
                           at=time.time() - 60)
    replies.keep_unmatched(conn, "+14045551234", "running late", "no_upcoming_booking", at=time.time())
    for path in ("/admin", "/admin/messages"):
        shown = page(web.get(path)).split('id="unmatched-replies"')[1].split("</table>")[0]
        assert shown.index("running late") < shown.index("Is the meeting at 3?")  # newest first
        assert "+4479******21" in shown and "no_upcoming_booking" in shown
        assert "7911123421" not in shown and "4045551234" not in shown


def test_hostile_values_are_escaped_everywhere(web, conn):
    payload = book(web, conn, event_type_name=HOSTILE, email="hostile@example.com")
    uri = payload["uri"]
    message = reminder_story(conn, uri, 7200, (LedgerEvent.FAILED, {"code": HOSTILE, "reason": HOSTILE}),
                             at=time.time())
    replies.keep_unmatched(conn, None, HOSTILE, HOSTILE)
    pages = [page(web.get(f"/admin/bookings/{keys.digest(uri)}")), page(web.get("/admin/messages")),
             page(web.get("/admin"))]
    for html in pages:
        assert HOSTILE not in html and "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[0] and message in pages[0]


def test_the_new_pages_keep_the_content_security_policy(web, conn):
    uri = book(web, conn)["uri"]
    reminder_story(conn, uri, 7200, at=time.time())
    for path in (f"/admin/bookings/{keys.digest(uri)}", "/admin/messages"):
        answer = web.get(path)
        styles = re.findall(r"<style>(.*?)</style>", answer.get_data(as_text=True), re.S)
        assert len(styles) == 1, path
        digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in answer.headers["Content-Security-Policy"], path
        assert not re.search(r"<script|\sstyle=|\son\w+=|<link|<img|<iframe", answer.get_data(as_text=True)), path


def test_the_email_index_holds_no_address_and_lapses_with_the_records(conn):
    store = BookingStore(conn)
    now = datetime.now(timezone.utc)
    early = BookingRecord("https://api.calendly.com/scheduled_events/a/invitees/1", BookingStatus.ACTIVE,
                          email="Sam@Example.com", start=now - timedelta(days=3), end=now - timedelta(days=3))
    late = BookingRecord("https://api.calendly.com/scheduled_events/b/invitees/2", BookingStatus.ACTIVE,
                         email="sam@example.com", start=now + timedelta(days=30), end=now + timedelta(days=30))
    store.save(late, now)
    store.save(early, now)  # saved last, expires first: the index keeps the later expiry
    index = keys.bookings_by_email("SAM@example.com ")
    assert store.for_email("sam@EXAMPLE.com", now) == [late.invitee_uri, early.invitee_uri]
    assert not any(b"@" in key or b"example" in key for key in conn.keys("*"))
    assert abs(conn.ttl(index) - conn.ttl(keys.booking(late.invitee_uri))) <= 1
    # Once the early record's time is past, its entry is no longer found, nor kept at the next save.
    after_early = early.expires_at(now) + timedelta(seconds=1)
    assert store.for_email("sam@example.com", after_early) == [late.invitee_uri]
    store.save(late, after_early)
    assert conn.zcard(index) == 1


def test_status_rows_that_matched_no_message_are_listed(web, conn):
    ledger.record_status(conn, relay_message=None, provider_id="el-unknown-9", event=LedgerEvent.FAILED,
                         at=time.time(), code="3002", reason="invalid number +14045551234")
    orphans = page(web.get("/admin/messages")).split('id="orphans"')[1].split("</table>")[0]
    assert "el-unknown-9" in orphans and ">failed<" in orphans and "3002" in orphans
    assert "4045551234" not in orphans


def test_a_reconfirmed_booking_shows_when(web, conn):
    from worker.callbacks.reconfirm import reconfirm

    uri = book(web, conn, phone="+1 404-555-1234")["uri"]
    digest = keys.digest(uri)
    assert 'id="reconfirmed"' not in page(web.get(f"/admin/bookings/{digest}"))
    at = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
    assert reconfirm(conn, "+14045551234", "C", Settings(signing_key=SIGNING_KEY), at) == "reconfirmed"
    booking = page(web.get(f"/admin/bookings/{digest}"))
    assert 'id="reconfirmed">2026-12-01 09:30:00<' in booking
    assert "host_reconfirmed" in booking  # its host notice, in the ledger (skipped: no template here)
