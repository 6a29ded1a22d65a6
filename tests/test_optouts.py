"""The opt-out list (shared/optouts.py) against a real Redis: numbers in any spelling, the
first reason kept, nothing stored in clear."""

from __future__ import annotations

import pytest

from shared import keys, optouts

PHONE = "+14045551234"


def test_add_remove_and_lookup_in_any_spelling(conn):
    assert not optouts.is_opted_out(conn, PHONE)
    assert optouts.add(conn, "+1 (404) 555-1234", "reply", at=100.0) is True
    assert optouts.add(conn, "14045551234", "status") is False  # the digits an SMS platform reports
    assert optouts.is_opted_out(conn, PHONE)
    assert optouts.entries(conn) == [optouts.OptOut(phone="+1404*****34", at=100.0, source="reply")]
    assert optouts.remove(conn, PHONE, "operator") is True
    assert optouts.remove(conn, PHONE, "operator") is False
    assert not optouts.is_opted_out(conn, PHONE) and optouts.entries(conn) == []


def test_entries_newest_first(conn):
    optouts.add(conn, PHONE, "reply", at=1.0)
    optouts.add(conn, "+447911123456", "operator", at=2.0)
    assert [entry.source for entry in optouts.entries(conn)] == ["operator", "reply"]


@pytest.mark.parametrize("wrong", ["", "hello", "+1 555", "12"])
def test_an_invalid_number_is_refused(conn, wrong):
    with pytest.raises(ValueError, match="not a valid phone number"):
        optouts.add(conn, wrong, "operator")
    assert not optouts.is_opted_out(conn, wrong)


def test_no_clear_number_is_stored(conn):
    optouts.add(conn, PHONE, "reply")
    for key in conn.scan_iter("*"):
        assert b"4045551234" not in conn.dump(key)
    assert conn.hlen(keys.OPTOUTS) == 1
