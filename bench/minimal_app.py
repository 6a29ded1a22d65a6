"""The anchor for the intake benchmark: a *minimal durable receiver*, doing only the work no
receiver that verifies and keeps what it accepts can skip (issue 19):

- Flask reads the body;
- the signature is checked (HMAC-SHA256 over ``t.body``, the same header format);
- the body is parsed as JSON (a receiver must know what it was sent);
- one Redis round trip keeps it: ``SET dedupe NX EX`` and ``LPUSH`` of the raw body, in
  one script, and only then 200.

No validation, no job, no metrics, no logging: what the relay does beyond this is its own
cost. Served by the same gunicorn configuration as the relay (``web.gunicorn_config``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import redis
from flask import Flask, request

from shared.calendly.signature import HEADER

app = Flask("minimal")
_conn = redis.Redis.from_url(os.environ["REDIS_URL"])
_key = os.environ["CALENDLY_WEBHOOK_SIGNING_KEY"].encode()
_keep = _conn.register_script("""
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
""")


@app.post("/webhooks/calendly")
def receive():
    raw = request.get_data()
    parts = dict(part.split("=", 1) for part in request.headers.get(HEADER, "").split(",") if "=" in part)
    expected = hmac.new(_key, f"{parts.get('t', '')}.".encode() + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        return "", 401
    envelope = json.loads(raw)
    dedupe = hashlib.sha256(f"{envelope['event']}\n{envelope['payload']['uri']}".encode()).hexdigest()
    _keep(keys=[f"minimal:dedupe:{dedupe}", "minimal:queue"], args=[86400, raw])
    return "", 200


@app.get("/healthz")
def healthz():
    return "ok"
