"""``relay event-types list [--yaml]`` and ``relay links create`` against a fake Calendly."""

from __future__ import annotations

import pytest
import yaml

from worker.cli import main
from shared.relay_config import parse_relay_config
from tests.fakes import FakeCalendly


@pytest.fixture
def calendly(monkeypatch, redis_url):
    with FakeCalendly(max_page=2) as fake:
        fake.add_event_type("Demo", "demo", 45)
        fake.add_event_type("Intro call", "intro", 15, active=False)
        fake.add_event_type("Other host's call", "other", 60, owner="https://api.calendly.com/users/OTHER")
        monkeypatch.setenv("CALENDLY_ACCESS_TOKEN", FakeCalendly.TOKEN)
        monkeypatch.setenv("CALENDLY_API_URL", fake.url)
        monkeypatch.setenv("REDIS_URL", redis_url)
        yield fake


def test_listing_pages_through_every_event_type(calendly, capsys):
    assert main(["event-types", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4  # two pages of two
    assert any("Demo" in line and "demo" in line and "45 min" in line and "active" in line for line in lines)
    assert any("Intro call" in line and "inactive" in line for line in lines)
    pages = [r for r in calendly.requests if r["path"].startswith("/event_types")]
    assert len(pages) == 2 and "organization=" in pages[0]["path"]


def test_user_scope_lists_only_the_users_event_types(calendly, capsys, monkeypatch):
    monkeypatch.setenv("CALENDLY_SCOPE", "user")
    assert main(["event-types", "list"]) == 0
    assert "Other host" not in capsys.readouterr().out


def test_yaml_is_a_ready_to_edit_relay_config(calendly, capsys):
    assert main(["event-types", "list", "--yaml"]) == 0
    text = capsys.readouterr().out
    config = parse_relay_config(yaml.safe_load(text))
    assert {item["uri"] for item in calendly.event_types} == set(config.event_types)
    assert "# Demo (45 min)" in text and "inactive" in text


def test_links_create_by_slug_prints_a_single_use_link(calendly, capsys):
    assert main(["links", "create", "demo"]) == 0
    [link] = calendly.links
    assert capsys.readouterr().out.strip() == link["booking_url"]
    demo = next(e for e in calendly.event_types if e["slug"] == "demo")
    assert link["owner"] == demo["uri"]


def test_links_create_explains_what_is_wrong(calendly, capsys):
    assert main(["links", "create", "no-such-type"]) == 1
    assert "no event type has the slug or name 'no-such-type'" in capsys.readouterr().err
    assert main(["links", "create", "demo", "--max-events", "3"]) == 1
    assert "max_event_count" in capsys.readouterr().err
    assert calendly.links == []


def test_without_credentials_the_commands_say_so(monkeypatch, redis_url, capsys):
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["event-types", "list"]) == 2
    assert "CALENDLY_ACCESS_TOKEN" in capsys.readouterr().err


def test_the_skeleton_survives_odd_names_and_items_without_a_uri():
    from shared.calendly.links import config_skeleton

    items = [{"uri": "https://api.calendly.com/event_types/E1", "name": 'Q&A: "deep" #1\nline\u2028two',
              "duration": 30, "active": True}, {"name": "no uri"}]
    config = parse_relay_config(yaml.safe_load(config_skeleton(items, "organization")))
    assert list(config.event_types) == ["https://api.calendly.com/event_types/E1"]


def test_a_slug_that_looks_like_digits_is_looked_up_not_taken_for_a_uuid(calendly, capsys):
    calendly.add_event_type("Launch", "2024-01-15", 30)
    assert main(["links", "create", "2024-01-15"]) == 0
    launch = next(e for e in calendly.event_types if e["slug"] == "2024-01-15")
    assert calendly.links[0]["owner"] == launch["uri"]
