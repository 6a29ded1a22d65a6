"""The deployment files agree with each other and with the code: Procfile, compose,
Dockerfile, .env.example and the README's configuration table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from worker.cli import release
from shared import defaults
from worker.cli.dev import PROCESSES
from worker.providers import settings_from_env

ROOT = Path(__file__).resolve().parent.parent


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def procfile():
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    return {name: command.strip() for name, command in (line.split(":", 1) for line in lines)}


def test_compose_runs_the_procfile_processes_plus_redis():
    """The three long-running processes; the Procfile's release line runs once per deploy
    on a platform and is no service of compose's (it would exit, and restart for ever)."""
    services = compose()["services"]
    assert set(services) == {"redis", "web", "worker", "scheduler"}
    long_running = {name: command for name, command in procfile().items() if name != "release"}
    for name, command in long_running.items():
        assert services[name]["command"] == command
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "container_name" not in services[name]  # --scale worker=N must work
    assert long_running == PROCESSES
    assert procfile()["release"] == release.COMMAND


def test_compose_redis_keeps_reminders():
    redis = compose()["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert any(volume.startswith("redis-data:") for volume in redis["volumes"])
    assert "redis-data" in compose()["volumes"]


def seconds(duration: str) -> float:
    """A compose duration such as ``30s``, ``1m30s``."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, duration
    return int(parts[1] or 0) * 60 + int(parts[2] or 0)


def test_compose_web_is_checked_on_readyz_and_workers_shut_down_gracefully():
    services = compose()["services"]
    health = services["web"]["healthcheck"]
    assert "/readyz" in " ".join(health["test"])
    # Failures while gunicorn boots do not count: a slow start is not "unhealthy".
    assert seconds(health["start_period"]) >= 2 * seconds(health["interval"])
    assert services["web"]["environment"]["PORT"] == "8000"
    # The processes end their work in flight within SHUTDOWN_GRACE: docker's SIGKILL must come later.
    for name in ("web", "worker"):
        assert seconds(services[name]["stop_grace_period"]) >= defaults.SHUTDOWN_GRACE + 5


# --- compose's variable interpolation, as `docker compose` applies it to the file ------

INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


class MissingVariable(Exception):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``, ``${NAME:?error}``,
    ``${NAME?error}`` and ``$$``, with compose's meanings (a ``:`` also treats an empty
    value as missing)."""

    def substitute(match):
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if present:
            return env[name]
        if op and op.endswith("?"):
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        return arg if op else ""

    return INTERPOLATION.sub(substitute, value)


def compose_variables() -> set[str]:
    return {m["name"] for m in INTERPOLATION.finditer((ROOT / "docker-compose.yml").read_text()) if m["name"]}


def test_compose_publishes_the_receiver_on_loopback_unless_told_otherwise():
    services = compose()["services"]
    (published,) = services["web"]["ports"]
    assert interpolate(published, {}) == "127.0.0.1:8000:8000"
    assert interpolate(published, {"RELAY_BIND": "0.0.0.0", "PORT": "9000"}) == "0.0.0.0:9000:8000"
    assert [name for name, service in services.items() if "ports" in service] == ["web"]


def test_compose_refuses_to_start_without_the_signing_key():
    environment = compose()["services"]["web"]["environment"]
    template = environment["CALENDLY_WEBHOOK_SIGNING_KEY"]
    for env in ({}, {"CALENDLY_WEBHOOK_SIGNING_KEY": ""}):  # unset, or left empty in .env
        with pytest.raises(MissingVariable, match=r"CALENDLY_WEBHOOK_SIGNING_KEY.*\.env"):
            interpolate(template, env)
    assert interpolate(template, {"CALENDLY_WEBHOOK_SIGNING_KEY": "new-key,old-key"}) == "new-key,old-key"
    # Every other value of the file interpolates with nothing set: the key alone is required.
    text = (ROOT / "docker-compose.yml").read_text().replace(template, "")
    interpolate(text, {})


def test_compose_builds_one_image_for_the_three_processes():
    """One name, one build: compose labels each service's build with the service, so a
    build on all three made three images. web builds it, at every ``up``; it is never
    pulled (no registry has it: a pull could only fail)."""
    services = compose()["services"]
    relay = {name: services[name] for name in PROCESSES}
    assert {service["image"] for service in relay.values()} == {"calendly-relay:latest"}
    assert [name for name, service in services.items() if "build" in service] == ["web"]
    assert services["web"]["build"] == "." and services["web"]["pull_policy"] == "build"
    assert services["worker"]["pull_policy"] == services["scheduler"]["pull_policy"] == "never"


# --- the image ---------------------------------------------------------------------------


def dockerfile_stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line on (comments dropped)."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    stages: list[list[str]] = []
    for line in lines:
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return ["\n".join(stage) for stage in stages]


def test_dockerfile_is_slim_non_root_and_caches_dependencies():
    *builders, final = dockerfile_stages()
    assert all(re.match(r"FROM python:3\.11-slim\b", stage) for stage in [*builders, final])
    assert re.search(r"^USER relay", final, re.M)
    dependencies = final.index("pip install -r /tmp/requirements.lock")
    assert final.index("COPY requirements.lock") < dependencies < final.index("COPY --from=")
    assert "gunicorn" in final and "web.gunicorn_config" in final


def test_image_installs_the_locked_set_and_the_project_without_building_in_it():
    """setuptools leaves build/ and an .egg-info beside what it builds: the wheel is built
    in a stage of its own and only the wheel reaches the image, installed without
    dependencies (the lock has them all)."""
    (builder,), final = dockerfile_stages()[:-1], dockerfile_stages()[-1]
    stage_name = re.match(r"FROM \S+ AS (\S+)", builder)[1]
    assert re.search(r"^RUN pip wheel --no-deps --wheel-dir /wheels \.$", builder, re.M)
    assert f"COPY --from={stage_name} /wheels /tmp/wheels" in final
    assert re.search(r"^RUN pip install --no-deps /tmp/wheels/\*\.whl && rm -rf /tmp/wheels$", final, re.M)
    # Nothing of the source tree is copied into the final stage, so nothing is built there.
    copied = re.findall(r"^COPY (?!--from)(.*)$", final, re.M)
    assert copied == ["requirements.lock /tmp/requirements.lock"]
    assert not re.search(r"pip install [^\n]*(?<![\w/])\.(\s|$)", final)


def test_the_wheel_the_image_installs_holds_every_module(tmp_path):
    """The image runs from the installed wheel alone (no sources beside it): built from
    what the wheel stage copies, it must hold every module of web/, worker/ and shared/
    and the ``relay`` command."""
    import shutil
    import subprocess
    import sys
    import zipfile

    builder = dockerfile_stages()[0]
    context = tmp_path / "src"
    context.mkdir()
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", builder, re.M):
        for source in sources.split():
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, context / source, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(path, context / source)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "--wheel-dir", str(tmp_path / "wheels"), str(context)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "wheels").glob("calendly_relay-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {str(path.relative_to(ROOT)) for package in ("web", "worker", "shared")
               for path in (ROOT / package).rglob("*.py")}
    assert sources - names == set()
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "relay = worker.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


class Recorder(dict):
    """Remembers every variable the settings ask for."""

    def __init__(self):
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return default


def test_every_variable_the_relay_reads_is_documented():
    recorder = Recorder()
    settings_from_env(recorder)
    asked = recorder.asked | {"WEB_CONCURRENCY"}  # read by web/gunicorn_config.py
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    asked |= compose_variables()  # what `docker compose` reads (RELAY_BIND, ...)
    for name in sorted(asked):
        assert re.search(rf"^# {name}=", example, re.M), f"{name} is missing from .env.example"
        assert f"`{name}`" in readme or name.startswith("TEMPLATE_ID_"), f"{name} is missing from the README"
    assert {f"TEMPLATE_ID_{k.upper()}" for k in ("confirm", "cancel", "reschedule", "reminder", "followup",
                                                 "host_notify", "no_show")} <= asked


def test_no_file_holds_a_merge_conflict_marker():
    """A merge once committed README.md with both sides and the markers between them."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    marker = re.compile(r"^(<{7} |={7}$|>{7} )", re.M)
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".py", ".md", ".yml", ".yaml", ".toml", ".json", ".lock", ".example", ""} and path.is_file():
            assert not marker.search(path.read_text(errors="replace")), f"{name} holds a merge conflict marker"


# --- app.json (Heroku's manifest: https://devcenter.heroku.com/articles/app-json-schema) ---

PLATFORM_PROVIDED = {"PORT": "the platform sets it", "REDIS_URL": "the Redis add-on sets it"}


def app_json() -> dict:
    import json

    return json.loads((ROOT / "app.json").read_text())


def variables_the_relay_reads() -> set[str]:
    recorder = Recorder()
    settings_from_env(recorder)
    return recorder.asked | {"WEB_CONCURRENCY"}  # read by web/gunicorn_config.py


def readme_required() -> set[str]:
    """Names in the README's configuration table whose default cell says "required"."""
    rows = re.findall(r"^\| `([A-Z0-9_]+)`[^|]*\|[^|]*\| *required\b", (ROOT / "README.md").read_text(), re.M)
    return set(rows)


def test_app_json_names_every_variable_and_only_those_the_relay_reads():
    env = app_json()["env"]
    read = variables_the_relay_reads()
    assert set(env) <= read - set(PLATFORM_PROVIDED), sorted(set(env) - read)
    assert set(env) >= read - set(PLATFORM_PROVIDED), sorted(read - set(PLATFORM_PROVIDED) - set(env))


def test_app_json_says_what_each_variable_is_and_whether_it_is_required():
    for name, entry in app_json()["env"].items():
        assert isinstance(entry, dict) and entry["description"].strip(), name
        # app.json's "required" defaults to true: every optional variable must say false.
        assert isinstance(entry.get("required"), bool), f"{name}: say required true or false"
        assert isinstance(entry.get("value", ""), str), f"{name}: values are strings"
        assert entry.get("generator", "secret") == "secret", name  # the only generator there is
    required = {name for name, entry in app_json()["env"].items() if entry["required"]}
    assert required == readme_required() == {"CALENDLY_WEBHOOK_SIGNING_KEY"}
    generated = {name for name, entry in app_json()["env"].items() if "generator" in entry}
    assert generated == {"CALENDLY_WEBHOOK_SIGNING_KEY", "ADMIN_TOKEN"}


def test_app_json_values_make_a_configuration_every_process_accepts():
    """What the platform would set: the values, a secret per generator, the add-on's URL."""
    import secrets

    env = {"REDIS_URL": "rediss://:password@ec2-1-2-3-4.compute-1.amazonaws.com:12345", "PORT": "31337"}
    for name, entry in app_json()["env"].items():
        if "generator" in entry:
            env[name] = secrets.token_hex(32)
        elif "value" in entry:
            env[name] = entry["value"]
    settings = settings_from_env(env)
    settings.check_web()
    assert settings.redis_ssl_cert_reqs == "none"  # Heroku's Redis: a chain of its own CA
    assert settings.trusted_proxies == 1  # Heroku's router
    assert settings.admin_token and settings.signing_key


def test_app_json_creates_redis_and_the_three_long_running_processes():
    app = app_json()
    assert 3 <= len(app["name"]) <= 30 and len(app["description"]) <= 140  # the schema's limits
    plans = [addon["plan"] if isinstance(addon, dict) else addon for addon in app["addons"]]
    assert [plan.split(":")[0] for plan in plans] == ["heroku-redis"]
    assert app["formation"] == {name: {"quantity": 1, "size": "basic"} for name in PROCESSES}
    assert "release" not in app["formation"]  # the release phase runs it, once per release


def test_buildpacks_find_a_python_app_and_install_the_locked_set():
    """Heroku's Python buildpack (Dokku, Render and Railway likewise) recognises an app by
    requirements.txt (or poetry.lock, uv.lock, Pipfile.lock), never by pyproject.toml alone,
    and runs ``pip install -r requirements.txt``: the runtime lock, then the project."""
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines == ["-r requirements.lock", "."]


def test_the_platform_python_is_the_one_the_locks_and_the_image_use():
    from packaging.specifiers import SpecifierSet

    version = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", version)
    assert f"FROM python:{version}-slim" in (ROOT / "Dockerfile").read_text()
    import tomllib

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(f"{version}.0")
    assert f"CPython {version}" in (ROOT / "README.md").read_text()  # "the locks are resolved for CPython 3.11"
