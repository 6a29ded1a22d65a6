"""EngageLab callback rows as the worker reads them (worker/callbacks/), against a real
Redis: what a failure without a code counts under, the spellings of a sender's number a
STOP reply may come in, bodies of thousands of junk rows, hostile values in a row."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import pytest

from shared import engagelab_samples, ledger, optouts, stats
from shared.settings import Settings
from worker.callbacks import process_callback
from worker.callbacks.rows import callback_phone

PHONE = "+14045551234"


def process(conn, *rows):
    return process_callback(conn, {"total": len(rows), "rows": list(rows)}, Settings(quiet_hours=None),
                            datetime.now(timezone.utc))


def test_a_failure_without_a_code_is_counted_by_its_status_never_by_its_text(conn):
    """The provider's message is free text (numbers in it, a new wording each time): as a
    counter label it would make one Prometheus series per message."""
    ids = [ledger.message_id(f"key-{n}") for n in range(3)]
    for n, message in enumerate(ids):
        ledger.record(conn, message, "planned", kind="reminder", booking="b", due=1)
        process(conn, engagelab_samples.status_row(f"m-{n}", "sent_failed", relay_message=message, to=PHONE,
                                                   error_message=f"Invalid target {n}: +1 404 555 12{n}0"))
    labels = {key for key in stats.read(conn, "messages") if key[1] == "failed"}
    assert labels == {("reminder", "failed", "sent_failed")}
    message = ledger.load(conn, ids[0])
    assert (message.state, message.reason) == ("failed", "sent_failed")
    [failure] = [event for event in message.events if event.name == "failed"]
    assert "Invalid target 0" in failure.detail["reason"]  # the text stays in the timeline


@pytest.mark.parametrize("sender", ["+1 404 555 1234", "14045551234", "1 404 555 1234", "1-404-555-1234",
                                    "(1) 404.555.1234", "0014045551234", 14045551234])
def test_a_sender_number_is_read_in_any_spelling_with_its_country_code(sender):
    assert callback_phone(sender) == PHONE


@pytest.mark.parametrize("sender", [None, "", "STOP", True, 1.5, "+1 404", {"n": PHONE}])
def test_what_is_no_number_is_none(sender):
    assert callback_phone(sender) is None


def test_a_stop_from_a_number_written_with_dashes_opts_it_out(conn):
    process(conn, engagelab_samples.reply_row("1-404-555-1234", "STOP"))
    assert optouts.is_opted_out(conn, PHONE)


def test_thousands_of_junk_rows_are_counted_without_a_log_line_each(conn, caplog):
    """A body of 256 KiB holds some 80,000 rows of ``{}``: a line and a round trip each
    would flood the log and outlast the job's timeout."""
    caplog.set_level(logging.INFO)
    junk = [{}] * 3000 + [{"status": {"message_status": "exploded"}, "message_id": "m"}] * 2000
    result = process(conn, *junk)
    assert result["rows"] == 5000
    assert stats.read(conn, "engagelab_rows") == {("unknown", "ignored"): 3000, ("status", "unreadable"): 2000}
    assert len(caplog.records) <= 25


def test_the_job_s_timeout_is_not_taken_for_one_row_s_error(conn, monkeypatch):
    from rq.timeouts import JobTimeoutException

    from worker import callbacks

    def slow(*args):
        raise JobTimeoutException("Task exceeded maximum timeout value (60 seconds)")

    monkeypatch.setitem(callbacks.HANDLERS, "reply", slow)
    with pytest.raises(JobTimeoutException):
        process(conn, engagelab_samples.reply_row(PHONE, "hello"), engagelab_samples.reply_row(PHONE, "STOP"))


def test_a_failure_whose_code_is_no_integer_is_still_recorded(conn):
    message = ledger.message_id("key-inf")
    row = engagelab_samples.status_row("m-inf", "sent_failed", relay_message=message, to=PHONE)
    row["status"]["error_code"] = float("inf")  # what json reads of 1e999
    process(conn, row)
    assert ledger.load(conn, message).state == "failed"
    assert stats.read(conn, "engagelab_rows") == {("status", "failed"): 1}


def test_a_reply_of_a_long_run_of_spaces_is_read_in_linear_time():
    """Stripping the edges with a pattern anchored at the end backtracked quadratically:
    a 256 KiB reply of spaces between two letters held a worker for minutes."""
    from shared.replies import normalize_reply, word_forms

    started = time.monotonic()
    assert normalize_reply("a" + " " * 40_000 + "b") == "A" + " " * 40_000 + "B"
    assert word_forms("!" * 40_000 + "x") == {"X"}
    assert normalize_reply(" «Stop!» ") == "STOP" and normalize_reply(" ... ") == ""
    assert time.monotonic() - started < 0.5


def test_rows_waiting_for_a_send_are_bounded_per_provider_id(conn):
    """Status rows for a provider id no send has named yet wait for it (a day): repeated,
    they must not grow its list without bound."""
    from shared import defaults, keys

    rows = [engagelab_samples.status_row("never-sent", "delivered", to=PHONE, at=1_700_000_000 + n) for n in range(60)]
    process(conn, *rows)
    assert 0 < conn.llen(keys.ledger_waiting("never-sent")) <= defaults.LEDGER_MAX_EVENTS
    message = ledger.message_id("late-send")
    ledger.record(conn, message, "sent", provider_id="never-sent")  # the send, recorded at last
    assert ledger.load(conn, message).state == "delivered"


def test_an_overturned_outcome_counts_once_in_the_delivery_ratio(conn):
    """Delivered, then the carrier's delivered_failed (which beats it): one message, one
    outcome in relay_sms_delivery_ratio, not one of each."""
    message = ledger.message_id("key-overturned")
    ledger.record(conn, message, "planned", kind="reminder", booking="b", due=1)
    process(conn, engagelab_samples.status_row("m-o", "delivered", relay_message=message, to=PHONE))
    process(conn, engagelab_samples.status_row("m-o", "delivered_failed", relay_message=message, to=PHONE,
                                               error_code=4001, at=int(datetime.now(timezone.utc).timestamp()) + 1))
    assert ledger.load(conn, message).state == "failed"
    assert stats.delivery_ratio(conn) == (0.0, 0, 1)
