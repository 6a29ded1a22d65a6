"""Where the receiver's CPU goes, duty by duty: the real app called in-process (no server,
no network but Redis), each duty taken away in turn, beside the minimal durable receiver.

    .venv/bin/python bench/receiver_costs.py [--requests 3000] [--rounds 3] [--redis-url URL]

A variant that leaves out a duty is not a receiver the relay could ship: the figures only
say what each duty costs, to show how close to the minimal receiver the relay can come
while doing what its issues require (issue 19, target 1). CPU time of the process per
delivery, median of the rounds.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SIGNING_KEY, RedisDatabase, machine, signed_requests  # noqa: E402


def environ(raw: bytes) -> dict:
    """The WSGI environ gunicorn would build for one raw request."""
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    method, path, _ = lines[0].split(" ")
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
           "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
           "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "QUERY_STRING": "", "SCRIPT_NAME": "",
           "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0)}
    for line in lines[1:]:
        name, value = line.split(": ", 1)
        name = name.upper().replace("-", "_")
        env[name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"] = value
    return env


def answer(app, envs: list[dict]) -> None:
    """Each request through ``app`` as a WSGI server would take it; anything but 200 stops."""
    def respond(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise SystemExit(f"the receiver answered {status}")

    for env in envs:
        body = app(env, respond)
        b"".join(body)
        getattr(body, "close", lambda: None)()


def cpu_per_request(app, requests_: list[bytes]) -> float:
    envs = [environ(raw) for raw in requests_]
    answer(app, envs[:200])  # warm-up
    started = time.process_time()
    answer(app, envs[200:])
    return (time.process_time() - started) / (len(envs) - 200)


def relay_app(without: set[str]):
    """The relay's WSGI app as web.wsgi builds it, with the named duties taken away."""
    from web import app as web_app, webhook
    from web.intake import Intake

    app = web_app.create_app()
    if "bounded body" in without:  # RequestFrame(BoundedBody(Flask's own))
        app.wsgi_app.app = app.wsgi_app.app.app
    if "request id and security headers" in without:
        app.wsgi_app = app.wsgi_app.app
    if "log line" in without:
        logging.getLogger("relay.web").setLevel(logging.WARNING)
    if "validation" in without:
        webhook.validate_envelope = lambda data: data
    if "job, counters and recent list" in without:
        keep = app.extensions["relay"]["redis"].register_script(
            "if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then redis.call('LPUSH', KEYS[2], ARGV[2]) "
            "return 1 end return 0")

        def minimal_enqueue(self, envelope, dedupe_ttl, *args, body=b"", **kwargs):
            from web.intake import delivery_id
            ident = delivery_id(envelope)
            keep(keys=[f"relay:dedupe:{ident}", "minimal:queue"], args=[dedupe_ttl, body])
            return "accepted", ident
        Intake.enqueue_once = minimal_enqueue
    return app


DUTIES = ("log line", "validation", "request id and security headers", "bounded body", "job, counters and recent list")


def measure(variant: str, url: str, count: int) -> float:
    """One variant in a fresh interpreter state would be cleaner; a child process keeps the
    monkeypatches of one variant away from the next."""
    import subprocess
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r}); "
            f"from bench.receiver_costs import run_variant; run_variant({variant!r}, {count})")
    env = dict(os.environ, REDIS_URL=url, CALENDLY_WEBHOOK_SIGNING_KEY=SIGNING_KEY, CRM_BACKEND="off",
               SMS_BACKEND="console")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    redis.Redis.from_url(url).flushdb()
    return float(out.stdout.strip().splitlines()[-1])


def run_variant(variant: str, count: int) -> None:
    logging.disable(logging.NOTSET)
    sys.stderr = open(os.devnull, "w")
    requests_ = signed_requests(count + 200)
    print(cpu_per_request(variant_app(variant), requests_))


def variant_app(variant: str):
    """``minimal``, ``relay``, ``relay without <duty>`` or ``relay without all``."""
    if variant == "minimal":
        from bench.minimal_app import app
        return app
    if variant == "relay without all":
        return relay_app(set(DUTIES))
    return relay_app({variant.removeprefix("relay without ")} if variant != "relay" else set())


def report(redis_url: str | None, count: int, rounds: int) -> str:
    variants = ["minimal", "relay", *(f"relay without {duty}" for duty in DUTIES), "relay without all"]
    figures: dict[str, list[float]] = {variant: [] for variant in variants}
    with RedisDatabase(redis_url) as url:
        for _ in range(rounds):
            for variant in variants:
                figures[variant].append(measure(variant, url, count))
    median = {variant: statistics.median(values) * 1e6 for variant, values in figures.items()}
    lines = [f"### Receiver CPU per delivery, in-process ({count} deliveries × {rounds} rounds, {machine()})", "",
             "| variant | µs CPU per delivery | what the duty costs |", "|---|---|---|"]
    for variant in variants:
        cost = "" if variant in ("minimal", "relay") else f"{median['relay'] - median[variant]:.0f} µs"
        lines.append(f"| {variant} | {median[variant]:.0f} | {cost} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    print(report(args.redis_url, args.requests, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
