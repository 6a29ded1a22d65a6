"""The dependency locks (``python3 tasks.py lock`` writes them): ``requirements.lock``, the
runtime set the Docker image installs, and ``requirements-dev.lock``, the runtime set plus
the ``test`` extra that tasks.py installs into .venv. They must satisfy pyproject.toml's
ranges, agree with each other, hold every package their packages need, and be exactly
what this test run is using."""

from __future__ import annotations

import importlib.util
import shutil
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
NOT_LOCKED = {"pip", "calendly-relay"}
"""Installed but rightly absent from the locks: the installer and the project itself."""


def read_lock(path: Path) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        # No --index-url or --find-links: this machine's pip adds local file:// indexes
        # that exist nowhere else.
        assert not line.startswith("-"), f"{path.name}:{number}: an option line: {line}"
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==" and not requirement.marker, f"{path.name}:{number}: not a plain pin: {line}"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{path.name}: {name} pinned twice"
        pins[name] = Version(spec.version)
    return pins


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def runtime_requirements() -> list[Requirement]:
    return [Requirement(text) for text in project()["dependencies"]]


def dev_requirements() -> list[Requirement]:
    return runtime_requirements() + [Requirement(text) for text in project()["optional-dependencies"]["test"]]


LOCKS = [pytest.param(LOCK, runtime_requirements, id="runtime"),
         pytest.param(DEV_LOCK, dev_requirements, id="dev")]


def applies(requirement: Requirement, extras: set[str]) -> bool:
    """Whether ``requirement`` holds on this Python, for a package installed with ``extras``."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in {"", *extras})


@pytest.mark.parametrize("path, requirements", LOCKS)
def test_every_dependency_of_pyproject_is_locked_inside_its_range(path, requirements):
    pins = read_lock(path)
    for requirement in requirements():
        if not applies(requirement, set()):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{path.name} lacks {requirement} (python3 tasks.py lock)"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"{path.name} pins {name}=={pins[name]} outside pyproject.toml's {requirement}"


def test_the_image_and_the_test_venv_get_the_same_version_of_every_shared_package():
    runtime, dev = read_lock(LOCK), read_lock(DEV_LOCK)
    assert set(runtime) <= set(dev), f"missing from {DEV_LOCK.name}: {sorted(set(runtime) - set(dev))}"
    differ = {name: (str(runtime[name]), str(dev[name])) for name in runtime if runtime[name] != dev[name]}
    assert not differ, f"pinned differently (runtime, dev): {differ}"


@pytest.mark.parametrize("path, requirements", LOCKS)
def test_each_lock_holds_everything_its_packages_require(path, requirements):
    """Closed: every requirement of every locked package (with the extras asked of it),
    evaluated for this Python, is in the lock with a version that satisfies it. The
    requirements come from the installed packages' metadata, so this relies on the venv
    holding the locked versions (the next test)."""
    pins = read_lock(path)
    pending = [(canonicalize_name(r.name), set(r.extras)) for r in requirements() if applies(r, set())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        assert Version(metadata.version(name)) == pins[name], f"{name}: installed version is not the locked one"
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if not applies(requirement, extras):
                continue
            needed = canonicalize_name(requirement.name)
            assert needed in pins, f"{name} requires {requirement}, which {path.name} lacks"
            assert requirement.specifier.contains(pins[needed], prereleases=True), \
                f"{name} requires {requirement}; {path.name} pins {needed}=={pins[needed]}"
            pending.append((needed, set(requirement.extras)))
    assert {name for name, _ in seen} == set(pins), \
        f"pinned but needed by nothing: {sorted(set(pins) - {name for name, _ in seen})}"


def test_the_tests_run_on_exactly_the_locked_versions():
    pins = read_lock(DEV_LOCK)
    installed = {canonicalize_name(dist.metadata["Name"]): Version(dist.version) for dist in metadata.distributions()}
    for name in NOT_LOCKED:
        installed.pop(name, None)
    missing = sorted(set(pins) - set(installed))
    extra = sorted(set(installed) - set(pins))
    differ = {name: (str(pins[name]), str(installed[name])) for name in pins.keys() & installed.keys()
              if pins[name] != installed[name]}
    assert not (missing or extra or differ), \
        f"the venv is not the lock (python3 tasks.py test reinstalls it): missing {missing}, " \
        f"not locked {extra}, (locked, installed) {differ}"


def load_tasks():
    spec = importlib.util.spec_from_file_location("relay_tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    return tasks


def test_tasks_py_reinstalls_when_a_pin_changes_and_reads_the_lock_as_the_tests_do(tmp_path, monkeypatch):
    tasks = load_tasks()
    assert {name: Version(v) for name, v in tasks.locked(DEV_LOCK).items()} == read_lock(DEV_LOCK)
    before = tasks.install_stamp()
    moved = tmp_path / DEV_LOCK.name
    shutil.copy(DEV_LOCK, moved)
    moved.write_text(moved.read_text().replace(f"\nbabel=={read_lock(DEV_LOCK)['babel']}\n", "\nbabel==2.17.0\n"))
    assert moved.read_text() != DEV_LOCK.read_text()
    monkeypatch.setattr(tasks, "DEV_LOCK", moved)
    assert tasks.install_stamp() != before


def test_upgrading_a_test_tool_leaves_the_runtime_lock_alone():
    """pip-compile puts a package named by --upgrade-package into its output even when
    nothing requires it; tasks.py passes the runtime compile only those it already locks."""
    tasks = load_tasks()
    assert "trustme" in read_lock(DEV_LOCK) and "trustme" not in read_lock(LOCK)
    assert tasks.runtime_only(["-P", "trustme", "--upgrade-package=babel", "-Pgevent", "--quiet"]) == \
        ["--upgrade-package", "babel", "-P", "gevent", "--quiet"]
    assert tasks.runtime_only(["--upgrade"]) == ["--upgrade"]
