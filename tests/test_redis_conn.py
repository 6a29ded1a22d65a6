"""REDIS_SSL_CERT_REQS and the one way the relay opens Redis connections.

The processes against a real TLS Redis are in tests/faults/test_redis_tls.py."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import pytest
import redis

from shared import redis_conn
from shared.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
TLS_URL = "rediss://:p4ss-w0rd-heroku@redis.example.com:6380/0"


def test_certificate_check_is_required_unless_told_otherwise():
    assert Settings.from_env({}).redis_ssl_cert_reqs == "required"
    for value in ("required", "optional", "none", "NONE"):
        assert Settings.from_env({"REDIS_SSL_CERT_REQS": value}).redis_ssl_cert_reqs == value.lower()


def test_an_unknown_value_names_the_variable():
    with pytest.raises(ConfigError, match="REDIS_SSL_CERT_REQS must be one of required, optional, none"):
        Settings.from_env({"REDIS_SSL_CERT_REQS": "false"})


def test_a_url_that_says_otherwise_than_the_variable_is_refused():
    """redis-py lets ?ssl_cert_reqs= in the URL override the argument silently."""
    with pytest.raises(ConfigError, match="REDIS_URL asks for ssl_cert_reqs=none but REDIS_SSL_CERT_REQS is required"):
        Settings.from_env({"REDIS_URL": TLS_URL + "?ssl_cert_reqs=none"})
    agreeing = Settings.from_env({"REDIS_URL": TLS_URL + "?ssl_cert_reqs=none", "REDIS_SSL_CERT_REQS": "none"})
    assert agreeing.redis_ssl_cert_reqs == "none"


def test_the_password_in_redis_url_is_a_secret_for_the_logs():
    assert "p4ss-w0rd-heroku" in Settings.from_env({"REDIS_URL": TLS_URL}).secrets
    assert Settings.from_env({"REDIS_URL": "redis://localhost:6379/0"}).secrets == ()


@pytest.mark.parametrize("fail_fast", [False, True])
def test_tls_urls_carry_the_setting_and_plain_ones_do_not(fail_fast):
    client = redis_conn.connect(TLS_URL, fail_fast=fail_fast, ssl_cert_reqs="none")
    assert client.connection_pool.connection_kwargs["ssl_cert_reqs"] == "none"
    assert issubclass(client.connection_pool.connection_class, redis.SSLConnection)
    assert redis_conn.connect(TLS_URL).connection_pool.connection_kwargs["ssl_cert_reqs"] == "required"
    plain = redis_conn.connect("redis://localhost:6379/0", fail_fast=fail_fast, ssl_cert_reqs="none")
    assert "ssl_cert_reqs" not in plain.connection_pool.connection_kwargs  # redis-py would refuse it


def test_a_plain_connection_works_whatever_the_setting(redis_url):
    settings = Settings.from_env({"REDIS_URL": redis_url, "REDIS_SSL_CERT_REQS": "none"})
    assert redis_conn.connect_for(settings).ping()
    assert redis_conn.connect_for(settings, fail_fast=True).ping()


def _unverifiable() -> redis.ConnectionError:
    """What redis-py raises for Heroku's chain: the ssl error is the context, not the cause."""
    try:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        except ssl.SSLCertVerificationError as error:
            error.verify_message = "self-signed certificate in certificate chain"
            raise redis.ConnectionError("Error 1 connecting to redis.example.com:6380.")
    except redis.ConnectionError as outer:
        return outer


def test_an_unverifiable_certificate_is_a_setting_to_change():
    refusal = redis_conn.certificate_refusal(_unverifiable())
    assert isinstance(refusal, ConfigError)
    assert str(refusal).startswith("REDIS_SSL_CERT_REQS: ")
    assert "self-signed certificate in certificate chain" in str(refusal)
    assert "REDIS_SSL_CERT_REQS=none" in str(refusal)
    assert redis_conn.certificate_refusal(redis.ConnectionError("Connection refused")) is None
    assert redis_conn.certificate_refusal(ssl.SSLError("wrong version number")) is None


class Refusing:
    def __init__(self, error):
        self.error = error
        self.pings = 0

    def ping(self):
        self.pings += 1
        raise self.error


def test_worker_and_scheduler_stop_at_once_on_an_unverifiable_certificate():
    """They wait for a Redis that is down; a certificate they cannot trust is not that."""
    conn = Refusing(_unverifiable())
    with pytest.raises(ConfigError, match="REDIS_SSL_CERT_REQS"):
        redis_conn.wait_until_reachable(conn, "worker")
    assert conn.pings == 1


def test_the_receiver_starts_without_redis_but_not_with_an_unverifiable_certificate():
    redis_conn.check_certificate(Refusing(redis.ConnectionError("Connection refused")))  # 503s until it is back
    with pytest.raises(ConfigError, match="REDIS_SSL_CERT_REQS"):
        redis_conn.check_certificate(Refusing(_unverifiable()))


CLIENT_CONSTRUCTION = re.compile(r"\bRedis\s*\(|\bfrom_url\s*\(|\bconnect\s*\(\s*resolve_url")


def test_every_relay_connection_comes_from_connect_for():
    """A client made anywhere else would verify certificates whatever REDIS_SSL_CERT_REQS
    says (redis-py's default), and that process alone would fail on Heroku."""
    allowed = {"shared/redis_conn.py", "shared/embedded_redis.py"}  # the latter: a unix socket it owns
    offenders = [str(path.relative_to(ROOT)) for package in ("web", "worker", "shared")
                 for path in (ROOT / package).rglob("*.py")
                 if str(path.relative_to(ROOT)) not in allowed and CLIENT_CONSTRUCTION.search(path.read_text())]
    assert offenders == []


def test_the_web_refusal_status_is_the_one_gunicorns_master_stops_on():
    from gunicorn.arbiter import Arbiter

    from shared.defaults import WEB_APP_LOAD_ERROR_EXIT

    assert WEB_APP_LOAD_ERROR_EXIT == Arbiter.APP_LOAD_ERROR
