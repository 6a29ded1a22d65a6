"""The deployment files agree with each other and with the code: Procfile, compose,
Dockerfile, .env.example and the README's configuration table."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from shared.cli import PROCESSES
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def procfile():
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    return {name: command.strip() for name, command in (line.split(":", 1) for line in lines)}


def test_compose_runs_the_procfile_processes_plus_redis():
    services = compose()["services"]
    assert set(services) == {"redis", "web", "worker", "scheduler"}
    for name, command in procfile().items():
        assert services[name]["command"] == command
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "container_name" not in services[name]  # --scale worker=N must work
    assert procfile() == PROCESSES


def test_compose_redis_keeps_reminders():
    redis = compose()["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert any(volume.startswith("redis-data:") for volume in redis["volumes"])
    assert "redis-data" in compose()["volumes"]


def test_compose_web_is_checked_on_readyz_and_workers_shut_down_gracefully():
    services = compose()["services"]
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["web"]["environment"]["PORT"] == "8000"
    assert int(services["worker"]["stop_grace_period"].rstrip("s")) >= 60  # a job's timeout


def test_dockerfile_is_slim_non_root_and_caches_dependencies():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^USER relay", text, re.M)
    dependencies = text.index("RUN pip install -r requirements.lock")
    assert dependencies < text.index("COPY shared") and text.index("COPY requirements.lock") < dependencies
    assert text.index("pip install --no-deps") > dependencies  # the project adds nothing unlocked
    assert "gunicorn" in text and "web.gunicorn_config" in text


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
    Settings.from_env(recorder)
    asked = recorder.asked | {"WEB_CONCURRENCY"}  # read by web/gunicorn_config.py
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in sorted(asked):
        assert re.search(rf"^# {name}=", example, re.M), f"{name} is missing from .env.example"
        assert f"`{name}`" in readme or name.startswith("TEMPLATE_ID_"), f"{name} is missing from the README"
    assert {f"TEMPLATE_ID_{k.upper()}" for k in ("confirm", "cancel", "reschedule", "reminder", "followup",
                                                 "host_notify", "no_show")} <= asked
