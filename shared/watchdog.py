"""The watchdog for deliveries that fail signature verification.

A wrong key, a key rotated in Calendly but not here, or a proxy that alters the body all
look the same: Calendly keeps posting signed deliveries, the receiver keeps answering 401
``no_matching_signature``, and after 24 hours Calendly disables the subscription
(https://developer.calendly.com/api-docs/overview/webhooks/webhook-errors) without telling
anyone. So when WEBHOOK_VERIFICATION_FAILURES such refusals arrive within
WEBHOOK_VERIFICATION_WINDOW seconds with no delivery accepted in between, the relay says so:
an error line per WEBHOOK_VERIFICATION_ALERT_INTERVAL naming the likely causes, the gauge
relay_webhook_verification_failing, a banner on /admin, and ``relay webhooks check``.

The bookkeeping costs the refused path one script call and a fixed amount of Redis memory (the
newest WEBHOOK_VERIFICATION_FAILURES refusals and one hash), however many arrive: anyone can
post forged requests. The accepted path pays nothing
extra: the intake script (web/intake.py) deletes both keys in the round trip it makes anyway.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from redis.exceptions import RedisError

from shared import keys
from shared import defaults

log = logging.getLogger("relay.web")

KEYS = (keys.WEBHOOK_REFUSALS, keys.WEBHOOK_VERIFICATION_FAILING)
"""What an accepted delivery deletes."""

CAUSES = ("CALENDLY_WEBHOOK_SIGNING_KEY is not the subscription's key (with OAuth it must be the OAuth app's "
          "webhook signing key), the key was changed in Calendly but not here, a proxy alters the request body, "
          "or someone else is posting forged requests (then Calendly's own deliveries still verify, and "
          "relay webhooks check, which asks Calendly, does not fail)")

RECORD_REFUSAL = """
local now = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
-- Only the newest few matter (the threshold): a flood of forged requests must not grow it.
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
redis.call('EXPIRE', KEYS[1], ARGV[3])
local recent = redis.call('ZCARD', KEYS[1])
if recent < tonumber(ARGV[4]) and redis.call('EXISTS', KEYS[2]) == 0 then return {0, recent} end
if redis.call('HSETNX', KEYS[2], 'since', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], 'refusals', recent)
else
  redis.call('HINCRBY', KEYS[2], 'refusals', 1)
end
redis.call('HSET', KEYS[2], 'last', ARGV[1])
local alerted = tonumber(redis.call('HGET', KEYS[2], 'alerted') or '-1e18')
if now - alerted < tonumber(ARGV[5]) then return {0, recent} end
redis.call('HSET', KEYS[2], 'alerted', ARGV[1])
return {1, recent}
"""
"""Record a refusal; raise the alarm at the threshold; 1 when an error line is due."""


class Watchdog:
    """Made once per web process (the registered script)."""

    def __init__(self, conn):
        self.conn = conn
        self.script = conn.register_script(RECORD_REFUSAL)

    def refused(self, now: float | None = None) -> bool:
        """Note a delivery refused for no_matching_signature; True when the alarm spoke.
        Best effort: the 401 is answered whether or not Redis can count it."""
        now = time.time() if now is None else now
        try:
            alert, recent = self.script(keys=list(KEYS), args=[
                now, f"{now:.6f}:{secrets.token_hex(4)}", defaults.WEBHOOK_VERIFICATION_WINDOW,
                defaults.WEBHOOK_VERIFICATION_FAILURES, defaults.WEBHOOK_VERIFICATION_ALERT_INTERVAL])
        except RedisError:
            return False
        if alert:
            log.error("Calendly deliveries keep failing signature verification: %d refused within %d minutes and "
                      "none accepted since; likely causes: %s. Calendly disables the subscription after 24 hours "
                      "of failures", recent, defaults.WEBHOOK_VERIFICATION_WINDOW // 60, CAUSES,
                      extra={"reason": "verification_failing", "refused": recent})
        return bool(alert)


def clear(conn) -> None:
    """A delivery verified (outside the intake script, which does this itself)."""
    try:
        conn.delete(*KEYS)
    except RedisError:
        pass


def state(conn) -> dict[str, Any] | None:
    """{"since", "last", "refusals"} (unix seconds, a count) while failing, else None."""
    raw = conn.hgetall(keys.WEBHOOK_VERIFICATION_FAILING)
    if not raw:
        return None
    values = {k.decode(): v.decode() for k, v in raw.items()}
    return {"since": float(values.get("since", 0)), "last": float(values.get("last", 0)),
            "refusals": int(values.get("refusals", 0))}


def describe(failing: dict[str, Any]) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(failing["since"]))
    return (f"deliveries have been failing signature verification since {since} ({failing['refusals']} refused, "
            f"none accepted since); likely causes: {CAUSES}")
