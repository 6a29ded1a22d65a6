"""The fault suite's log scan catches what it is there to catch (and lets masked values by)."""

import pytest

from tests.faults.conftest import assert_logs_clean
from tests.helpers import SIGNING_KEY


@pytest.mark.parametrize("line", [
    '{"msg": "sms confirm accepted for +14045551234"}',
    '{"msg": "calling 404-555-1234"}',
    '{"msg": "office (404) 555-9876"}',
    '{"msg": "London 020 7946 0958"}',
    '{"msg": "Handy 0151 23456789"}',
    '{"msg": "Paris 06 12 34 56 78"}',
    '{"msg": "Berlin 030/12345678"}',
    '{"email": "jane.doe@example.com"}',
    f'{{"msg": "key {SIGNING_KEY}"}}',
])
def test_leaks_are_caught(line):
    with pytest.raises(AssertionError):
        assert_logs_clean(line)


def test_masked_values_and_timestamps_pass():
    assert_logs_clean('{"ts": "2026-11-23T16:02:59.562+00:00", "msg": "sms confirm accepted for +1404*****34", '
                      '"email": "j***@example.com", "delivery": "bb96763d2cc15b581ae06710f724f04d"}')
