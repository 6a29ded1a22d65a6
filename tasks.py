#!/usr/bin/env python3
"""Bootstrap with nothing but Python: ``python3 tasks.py dev``, ``python3 tasks.py test``
(or ``python3 tasks.py bench`` for the benchmarks).

Creates ./.venv on first use, (re)installs the project when pyproject.toml changes, then
runs ``relay dev`` or the test suite inside it. Extra arguments go to the command.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("RELAY_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def ensure_installed() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"tasks: creating {VENV}", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    print("tasks: installing calendly-relay and its test tools", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.check_call(pip + ["install", "-e", f"{ROOT}[test]"])
    STAMP.write_text(wanted)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("dev", "test", "bench"):
        print(__doc__)
        return 2
    ensure_installed()
    task, extra = sys.argv[1], sys.argv[2:]
    if task == "dev":
        command = [str(BIN / "relay"), "dev", *extra]
    elif task == "bench":
        command = [str(BIN / "python"), "-m", "bench.run", *extra]
    else:
        command = [str(BIN / "python"), "-m", "pytest", *extra]
    os.chdir(ROOT)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
