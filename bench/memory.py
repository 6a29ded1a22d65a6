"""Benchmark 7: memory of each process after warm-up, for sizing a 512 MB dyno.

The Procfile's processes run with both real backends (a fake EngageLab and a fake Brevo
over HTTP, so their modules and sessions are loaded) and take a few hundred signed
deliveries: each makes a confirmation, reminders in rq-scheduler, a Brevo contact and
event; the admin page and /metrics are read too. Then, per process:

- RSS: resident memory, pages shared with other processes counted in full;
- PSS: its share of them (a page shared by n processes counts 1/n): summed over the
  processes of a dyno, what the kernel, and so the dyno's memory limit, counts;
- USS: the memory only this process holds, what one more gunicorn worker adds at least.

The web dyno is measured whole (master and workers, PSS summed) at several
WEB_CONCURRENCY values, each after its own warm-up, after a first and a second round of
deliveries, so growth would show.
"""

from __future__ import annotations

import socket
import time

import psutil
import redis
from rq import Queue

from bench.common import BIN, RedisDatabase, free_port, gunicorn, processes, relay_env, signed_requests, wait_ready, \
    wait_workers

ADMIN_TOKEN = "bench-admin-token-memory-0001"
MB = 1024 * 1024
ROUND = 300
"""Deliveries per warm-up round."""
DYNO_MB = 512


def _env(url: str, engagelab, brevo, port: int, concurrency: int) -> dict[str, str]:
    from tests.fakes import FakeBrevo

    return relay_env(url, PORT=port, WEB_CONCURRENCY=concurrency, ADMIN_TOKEN=ADMIN_TOKEN,
                     SMS_BACKEND="engagelab", ENGAGELAB_DEV_KEY="bench-dev-key", ENGAGELAB_DEV_SECRET="bench-secret",
                     ENGAGELAB_API_URL=engagelab.url, TEMPLATE_ID_CONFIRM="1", TEMPLATE_ID_REMINDER="2",
                     TEMPLATE_ID_FOLLOWUP="3", CRM_BACKEND="brevo", BREVO_API_KEY=FakeBrevo.API_KEY,
                     BREVO_API_URL=brevo.url, SCHEDULER_INTERVAL=1)


def _send(port: int, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(raw)
        if b" 200 " not in sock.recv(200):
            raise SystemExit("the receiver refused a benchmark delivery")


def _read_admin(port: int) -> None:
    for path in ("/admin", "/metrics"):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
                         f"Connection: close\r\n\r\n".encode())
            while sock.recv(65536):
                pass


def _drained(conn) -> None:
    from shared import defaults

    deadline = time.monotonic() + 300
    while any(Queue(name, connection=conn).count for name in defaults.WORKER_QUEUES):
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not drain the warm-up")
        time.sleep(0.2)
    time.sleep(1)  # the last job finishes after its queue is empty


def _warm_up(port: int, conn, requests_: list[bytes]) -> None:
    for raw in requests_:
        _send(port, raw)
    for _ in range(10):
        _read_admin(port)
    _drained(conn)


def _memory(pid: int) -> dict[str, float]:
    info = psutil.Process(pid).memory_full_info()
    return {"rss": info.rss / MB, "pss": info.pss / MB, "uss": info.uss / MB}


def _web_processes(master_pid: int) -> list[int]:
    return [master_pid, *(child.pid for child in psutil.Process(master_pid).children())]


def measure(redis_url: str | None = None, concurrencies=(1, 2, 4), rounds: int = 2) -> dict:
    """{"web": {n: [(round, master, workers)]}, "worker": [...], "scheduler": [...]}"""
    from tests.fakes import FakeBrevo, FakeEngageLab

    results: dict = {"web": {}, "worker": [], "scheduler": []}
    deliveries = signed_requests(ROUND * rounds * len(concurrencies))
    used = 0
    for concurrency in concurrencies:
        with FakeEngageLab() as engagelab, FakeBrevo() as brevo, RedisDatabase(redis_url) as url:
            port = free_port()
            env = _env(url, engagelab, brevo, port, concurrency)
            with processes([[str(BIN / "relay"), "release"]], env) as (release,):
                release.wait(timeout=60)  # creates the Brevo attributes the contacts use
            conn = redis.Redis.from_url(url)
            commands = [gunicorn("web.wsgi:app"), [str(BIN / "relay"), "worker"], [str(BIN / "relay"), "scheduler"]]
            with processes(commands, env) as (web, worker, scheduler):
                wait_ready(port)
                wait_workers(url, 1)
                time.sleep(2 + concurrency)  # every gunicorn worker booted
                for number in range(1, rounds + 1):
                    _warm_up(port, conn, deliveries[used:used + ROUND])
                    used += ROUND
                    upserts = [r for r in brevo.requests if r["method"] == "POST" and r["path"] == "/contacts"]
                    if len(engagelab.received("/v1/messages")) < ROUND * number or len(upserts) < ROUND * number:
                        raise SystemExit("the warm-up did not reach both providers; the figures would say little")
                    pids = _web_processes(web.pid)
                    results["web"].setdefault(concurrency, []).append(
                        (number, _memory(pids[0]), [_memory(pid) for pid in pids[1:]]))
                    if concurrency == concurrencies[0]:  # the worker and scheduler do not depend on it
                        results["worker"].append((number, _memory(worker.pid)))
                        results["scheduler"].append((number, _memory(scheduler.pid)))
    return results


def report(redis_url: str | None = None, quick: bool = False) -> str:
    concurrencies = (1, 2) if quick else (1, 2, 4)
    results = measure(redis_url, concurrencies, rounds=1 if quick else 2)
    lines = [f"### Memory after warm-up (rounds of {ROUND} deliveries, MB)", "",
             "| process | after round | RSS | PSS | USS |", "|---|---|---|---|---|"]

    def row(name, number, figures):
        lines.append(f"| {name} | {number} | {figures['rss']:.1f} | {figures['pss']:.1f} | {figures['uss']:.1f} |")

    for number, master, workers in results["web"][concurrencies[0]]:
        row("gunicorn master", number, master)
        for figures in workers:
            row("gunicorn worker (gevent)", number, figures)
    for number, figures in results["worker"]:
        row("relay worker (simple)", number, figures)
    for number, figures in results["scheduler"]:
        row("relay scheduler", number, figures)
    lines += ["", f"Web dyno, PSS summed over the master and its workers, against {DYNO_MB} MB:", "",
              "| WEB_CONCURRENCY | after round | total PSS | per worker (PSS, mean) |", "|---|---|---|---|"]
    for concurrency, measured in results["web"].items():
        for number, master, workers in measured:
            total = master["pss"] + sum(w["pss"] for w in workers)
            mean = sum(w["pss"] for w in workers) / max(1, len(workers))
            lines.append(f"| {concurrency} | {number} | {total:.1f} MB ({100 * total / DYNO_MB:.0f} %) | {mean:.1f} MB |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(report(quick="--quick" in sys.argv))
