"""The Calendly API client against a local fake Calendly over HTTP."""

import pytest

from shared.calendly import samples
from shared.calendly.client import (MISSING_SCOPE, PERMISSION, PLAN, AlreadyExists, CalendlyClient, CalendlyError,
                                    Forbidden, NotFound)
from tests.fakes import FakeCalendly


@pytest.fixture
def calendly():
    with FakeCalendly(max_page=3) as fake:
        yield fake


def client_for(fake, sleeps=None, token=FakeCalendly.TOKEN):
    return CalendlyClient(fake.url, token, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_pagination_follows_page_tokens_over_several_pages(calendly):
    for _ in range(8):
        calendly.add_booking(samples.invitee_payload())
    items = list(client_for(calendly).paginate("/scheduled_events", status="active"))
    assert len(items) == 8
    pages = calendly.received("/scheduled_events")
    assert len(pages) == 3
    assert all("count=100" in r["path"] for r in pages)
    assert "page_token=3" in pages[1]["path"] and "page_token=6" in pages[2]["path"]


def test_rate_limit_waits_for_the_reset_header(calendly):
    calendly.answer("/users/me", 429, {"title": "Too Many Requests"}, headers={"X-RateLimit-Reset": "7"})
    sleeps = []
    me = client_for(calendly, sleeps).me()
    assert me["uri"].endswith("/users/USER1")
    assert sleeps == [7.0]


def test_bearer_token_and_clear_errors(calendly):
    with pytest.raises(CalendlyError, match="token was refused") as caught:
        client_for(calendly, token="wrong").me()
    assert caught.value.status == 401
    with pytest.raises(NotFound):
        client_for(calendly).get("/scheduled_events/nope")
    calendly.answer("/scheduled_events", 403, {"title": "Permission Denied", "message": "Please upgrade"})
    with pytest.raises(CalendlyError, match="plan does not include it.*Please upgrade"):
        client_for(calendly).get("/scheduled_events")
    calendly.answer("/webhook_subscriptions", 422, {"title": "Invalid Argument", "message": "The supplied parameters are invalid.",
                                                     "details": [{"parameter": "url", "message": "must be https"}]})
    with pytest.raises(CalendlyError, match="invalid.*url: must be https"):
        client_for(calendly).post("/webhook_subscriptions", {"url": "http://x"})


def test_a_403_says_whether_a_scope_the_plan_or_the_users_role_refused(calendly):
    calendly.answer("/scheduling_links", 403, {
        "title": "Insufficient scope", "message": "This operation requires the scopes listed in the 'required_scopes' array.",
        "required_scopes": ["scheduling_links:write"]})
    with pytest.raises(Forbidden, match="lacks the scope scheduling_links:write") as scope:
        client_for(calendly).post("/scheduling_links", {})
    assert (scope.value.reason, scope.value.scopes, scope.value.path) == (MISSING_SCOPE, ("scheduling_links:write",),
                                                                           "/scheduling_links")
    calendly.answer("/routing_forms", 403, {"title": "Permission Denied",
                                            "message": "Please upgrade to a paid Calendly account."})
    with pytest.raises(Forbidden, match="plan does not include it") as plan:
        client_for(calendly).get("/routing_forms")
    assert plan.value.reason == PLAN and plan.value.status == 403
    calendly.answer("/webhook_subscriptions", 403, {"title": "Permission Denied",
                                                    "message": "You do not have permission to access this resource."})
    with pytest.raises(Forbidden, match="owner or admin") as role:
        client_for(calendly).get("https://api.calendly.com/webhook_subscriptions?scope=organization")
    assert role.value.reason == PERMISSION and role.value.path == "/webhook_subscriptions"


def test_conflict_is_its_own_error(calendly):
    calendly.answer("/webhook_subscriptions", 409, {"title": "Already Exists", "message": "Hook with this url already exists"})
    with pytest.raises(AlreadyExists):
        client_for(calendly).post("/webhook_subscriptions", {})


def test_unreachable_calendly_is_a_clear_error():
    from tests.helpers import free_port

    client = CalendlyClient(f"http://127.0.0.1:{free_port()}", "t")
    with pytest.raises(CalendlyError, match="cannot reach Calendly"):
        client.me()


def test_the_token_is_never_sent_to_another_host(calendly):
    client = client_for(calendly)
    with pytest.raises(CalendlyError, match="refusing"):
        client.get("http://attacker.example/collect")
    assert client.get("https://api.calendly.com/users/me")["resource"]["uri"] == calendly.user  # mapped to the base
