"""shared/engagelab_callback.py: EngageLab's X-CALLBACK-ID verified as its docs describe
(https://www.engagelab.com/docs/sms/api/callback), with one reason per refusal."""

import hashlib
import hmac
import time

import pytest

from shared.engagelab_callback import CallbackVerificationError as Error
from shared.engagelab_callback import authorization_matches, compute_signature, generate_header, verify_header

SECRET, USER = "callback-secret-xyz", "relay"
NOW = 1_790_000_000


def verify(header, **options):
    return verify_header(header, **{"secret": SECRET, "username": USER, "tolerance": 300, "now": NOW, **options})


def test_the_signature_is_the_documented_hmac_over_timestamp_nonce_username():
    # The docs' own example: hmac.new(key=secret, msg=f'{timestamp}{nonce}{username}', sha256).hexdigest()
    expected = hmac.new(SECRET.encode(), f"{NOW}42{USER}".encode(), hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, NOW, "42", USER) == expected
    header = f"timestamp={NOW};nonce=42;username={USER};signature={expected}"
    parsed = verify(header)
    assert (parsed.timestamp, parsed.nonce, parsed.username) == (NOW, "42", USER)


def test_a_generated_header_verifies_and_tolerates_spaces_and_case():
    header = generate_header(SECRET, USER, timestamp=NOW, nonce="7")
    assert verify(header).nonce == "7"
    spaced = " ; ".join(header.split(";"))
    assert verify(spaced).nonce == "7"
    upper_hex = header.rsplit("=", 1)[0] + "=" + header.rsplit("=", 1)[1].upper()
    assert verify(upper_hex).nonce == "7"


@pytest.mark.parametrize("header, reason", [
    (None, Error.MISSING_HEADER),
    ("", Error.MISSING_HEADER),
    ("garbage", Error.MALFORMED_HEADER),
    (f"timestamp={NOW};nonce=1;username={USER}", Error.MALFORMED_HEADER),
    (f"timestamp=abc;nonce=1;username={USER};signature=00", Error.MALFORMED_HEADER),
    (f"timestamp={NOW};nonce={'x' * 200};username={USER};signature=00", Error.MALFORMED_HEADER),
    (generate_header(SECRET, "someone-else", timestamp=NOW), Error.WRONG_USERNAME),
    (generate_header("other-secret", USER, timestamp=NOW), Error.BAD_SIGNATURE),
    (generate_header(SECRET, USER, timestamp=NOW, signature="0" * 64), Error.BAD_SIGNATURE),
    (generate_header(SECRET, USER, timestamp=NOW - 301), Error.OUTSIDE_TOLERANCE),
    (generate_header(SECRET, USER, timestamp=NOW + 301), Error.OUTSIDE_TOLERANCE),
])
def test_every_refusal_has_its_own_reason(header, reason):
    with pytest.raises(Error) as refused:
        verify(header)
    assert refused.value.reason == reason
    assert refused.value.message and SECRET not in refused.value.message


def test_the_edges_of_the_tolerance_pass():
    assert verify(generate_header(SECRET, USER, timestamp=NOW - 300))
    assert verify(generate_header(SECRET, USER, timestamp=NOW + 300))
    assert verify(generate_header(SECRET, USER, timestamp=NOW - 3000), tolerance=3600)


def test_a_changed_nonce_or_timestamp_breaks_the_signature():
    header = generate_header(SECRET, USER, timestamp=NOW, nonce="1")
    with pytest.raises(Error) as refused:
        verify(header.replace("nonce=1", "nonce=2"))
    assert refused.value.reason == Error.BAD_SIGNATURE
    with pytest.raises(Error) as refused:
        verify(header.replace(f"timestamp={NOW}", f"timestamp={NOW - 1}"))
    assert refused.value.reason == Error.BAD_SIGNATURE


def test_generated_nonces_differ_and_default_to_now():
    first, second = generate_header(SECRET, USER), generate_header(SECRET, USER)
    assert first != second
    assert verify_header(first, secret=SECRET, username=USER, tolerance=5, now=time.time())


def test_authorization_is_compared_whole():
    assert authorization_matches("Bearer abc", "Bearer abc")
    assert authorization_matches(" Bearer abc ", "Bearer abc")
    assert not authorization_matches("Bearer abd", "Bearer abc")
    assert not authorization_matches(None, "Bearer abc")
    assert not authorization_matches("Bearer ab", "Bearer abc")
