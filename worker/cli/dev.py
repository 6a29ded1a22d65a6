"""``relay dev``: web, worker and scheduler in one terminal, with nothing to set up (the first
README command lands here). The embedded Redis unless REDIS_URL is set; a development
signing key and admin token kept under ./var/ (``relay simulate`` signs with the same key)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click
from honcho.printer import Printer

from shared import defaults, embedded_redis, logs
from worker.cli.context import Relay

PROCESSES = {
    "web": "gunicorn -c python:web.gunicorn_config web.wsgi:app",
    "worker": "relay worker",
    "scheduler": "relay scheduler",
}
"""The Procfile's long-running process types; ``relay dev`` runs exactly these commands.
The Procfile's fourth line, ``release:`` (worker/cli/release.py's COMMAND), runs once per
deploy and exits: it is not one of them."""


@click.command()
def dev() -> int:
    """Run web, worker and scheduler together (development); readable log lines on a
    terminal, JSON lines otherwise (LOG_FORMAT decides when set)."""
    from honcho.manager import Manager

    env = dict(os.environ)
    for key, value in read_dotenv(Path(".env")).items():
        env.setdefault(key, value)
    relay = Relay(env)
    settings = relay.settings
    relay.log_to_stderr()
    if not settings.redis_url:
        env["REDIS_URL"] = embedded_redis.ensure_running(defaults.VAR_DIR)
        print(f"relay dev: embedded Redis at {env['REDIS_URL']} (data in ./{defaults.VAR_DIR}/)", flush=True)
    if not settings.signing_key and not settings.allow_unsigned:
        env["CALENDLY_WEBHOOK_SIGNING_KEY"] = dev_signing_key()
        print(f"relay dev: using the development signing key in ./{defaults.VAR_DIR}/"
              f"{defaults.DEV_SIGNING_KEY_FILE} (relay simulate uses it too)", flush=True)
    if not settings.callbacks.enabled:
        env["ENGAGELAB_CALLBACK_USERNAME"], env["ENGAGELAB_CALLBACK_SECRET"] = dev_callback_credentials()
        print("relay dev: EngageLab callbacks enabled with a development username and secret "
              "(relay simulate sms-status and sms-reply sign with them)", flush=True)
    env.setdefault("PORT", str(defaults.DEFAULT_PORT))
    if not settings.admin_token:
        env["ADMIN_TOKEN"] = dev_secret(defaults.DEV_ADMIN_TOKEN_FILE)
    print(f"relay dev: admin page http://localhost:{env['PORT']}/admin and /metrics, "
          f"token: {env['ADMIN_TOKEN'] if not settings.admin_token else '(your ADMIN_TOKEN)'}", flush=True)
    # The venv's scripts (gunicorn, relay) must be found even when the venv is not active.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    if not settings.log_format and sys.stderr.isatty():
        # The processes write to honcho's pipes, not to this terminal: they are told.
        env["LOG_FORMAT"] = "text"
    print(f"relay dev: receiver on http://localhost:{env['PORT']}/webhooks/calendly; "
          f"try: relay simulate invitee.created", flush=True)
    manager = Manager(LevelColours(sys.stdout))
    for name, command in PROCESSES.items():
        manager.add_process(name, command, env=env)
    try:
        manager.loop()
    finally:
        embedded_redis.shutdown()
    return manager.returncode or 0


class LevelColours(Printer):
    """honcho's printer (each process's name in a colour of its own, on a terminal), with
    the level of each text log line coloured as the processes would on a terminal."""

    def write(self, message):
        if message.type == "line" and self.colour and self._colours_supported:
            text = message.data.decode("utf-8", "replace") if isinstance(message.data, bytes) else message.data
            message = message._replace(data="\n".join(logs.colour_level(line) for line in text.splitlines()))
        super().write(message)


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from honcho.environ import parse

    return parse(path.read_text())


def dev_signing_key() -> str:
    """A random key kept in ./var/, shared by ``relay dev`` and ``relay simulate``."""
    return dev_secret(defaults.DEV_SIGNING_KEY_FILE)


def dev_callback_credentials() -> tuple[str, str]:
    """The development EngageLab callback username and secret (the secret kept in ./var/)."""
    return defaults.DEV_CALLBACK_USERNAME, dev_secret(defaults.DEV_CALLBACK_SECRET_FILE)


def dev_secret(filename: str) -> str:
    """A random development secret kept in ./var/ (the same on every ``relay dev`` run)."""
    path = Path(defaults.VAR_DIR) / filename
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
