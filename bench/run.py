"""Run every benchmark and print one Markdown report (also written to bench/latest.md).

    python3 tasks.py bench [--quick]

Each benchmark starts the real processes (gunicorn, relay worker, relay scheduler) against
a fresh embedded Redis (or ``--redis-url``) and local fake providers; figures compared with
each other are measured side by side in the same run. Targets are printed beside the
figures; nothing here is an assertion.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from bench.common import ROOT, machine, reference_work


def main() -> int:
    parser = argparse.ArgumentParser(description="calendly-relay benchmarks")
    parser.add_argument("--redis-url", help="an empty Redis database (default: a temporary embedded one)")
    parser.add_argument("--quick", action="store_true", help="shorter runs and smaller sizes (a smoke run)")
    parser.add_argument("--only", choices=("intake", "slow", "e2e", "reminders", "steady", "scrub", "memory"), action="append")
    parser.add_argument("--output", default=str(ROOT / "bench" / "latest.md"))
    args = parser.parse_args()
    chosen = set(args.only or ("intake", "slow", "e2e", "reminders", "steady", "scrub", "memory"))
    seconds = 3.0 if args.quick else 8.0
    sections = [f"## calendly-relay benchmarks, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({machine()})"]
    speed_at_start = reference_work()

    from bench import end_to_end, intake, memory, reminders, scrub, steady_state

    if "intake" in chosen:
        sections.append(intake.intake(args.redis_url, seconds, rounds=1 if args.quick else 3))
        print(sections[-1] + "\n", flush=True)
    if "slow" in chosen:
        sections.append(intake.slow_provider(args.redis_url, seconds))
        print(sections[-1] + "\n", flush=True)
    if "e2e" in chosen:
        sections.append(end_to_end.end_to_end(args.redis_url, (2, 8) if args.quick else (1, 2, 4, 8)))
        print(sections[-1] + "\n", flush=True)
    if "reminders" in chosen:
        count, pending = (300, 10_000) if args.quick else (1000, 100_000)
        sections.append(reminders.report(args.redis_url, count, pending, workers=2, worker_class="simple"))
        print(sections[-1] + "\n", flush=True)
    if "steady" in chosen:
        sections.append(steady_state.report(50 if args.quick else 200, per_day=10_000, lead_days=3.0))
        print(sections[-1] + "\n", flush=True)
    if "scrub" in chosen:
        sections.append(scrub.report())
        print(sections[-1] + "\n", flush=True)
    if "memory" in chosen:
        sections.append(memory.report(args.redis_url, quick=args.quick))
        print(sections[-1] + "\n", flush=True)
    sections.insert(1, f"The machine's speed: the reference work (`bench/common.reference_work`, one core, "
                       f"lower is faster) took {speed_at_start:.0f} ms at the start, {reference_work():.0f} ms "
                       "at the end.")
    Path(args.output).write_text("\n\n".join(sections) + "\n")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
