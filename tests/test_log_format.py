"""LOG_FORMAT: short lines for a person at a terminal, JSON anywhere else (production output
unchanged), either when asked; the same masking in both."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared import logs
from shared.logs import JsonFormatter, TextFormatter
from tests.helpers import free_port

BIN = Path(sys.executable).parent
ANSI = re.compile(r"\x1b\[[\d;]*m")
TEXT_LINE = re.compile(r"^\d\d:\d\d:\d\d (\x1b\[[\d;]+m)?(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_text_and_anything_else_json_unless_log_format_says():
    assert isinstance(logs.formatter(None, stream=io.StringIO()), JsonFormatter)
    on_terminal = logs.formatter(None, stream=Terminal())
    assert isinstance(on_terminal, TextFormatter) and on_terminal.colour
    assert isinstance(logs.formatter("json", stream=Terminal()), JsonFormatter)
    piped_text = logs.formatter("text", stream=io.StringIO())
    assert isinstance(piped_text, TextFormatter) and not piped_text.colour  # no escape codes into a file


def test_a_text_line_is_masked_as_the_json_line_is():
    stream = Terminal()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure(stream=stream, secrets=["topsecret-key"])
    try:
        logging.getLogger("relay.test.text").warning("sent to %s", "+14045551234", extra={
            "email": "jane.doe@example.com", "key": "topsecret-key", "detail": {"name": "Jane"}, "gone": None})
        name = "Jane Doe"
        try:
            int(name)
        except ValueError:
            logging.getLogger("relay.test.text").exception("it failed")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    text = stream.getvalue()
    first, second, *traceback = text.splitlines()
    assert TEXT_LINE.match(first) and "\x1b[33mWARNING" in first  # the level in colour on a terminal
    assert "relay.test.text: sent to +1404*****34" in first
    assert "email=j***@example.com" in first and "key=[secret]" in first and "gone" not in first
    assert TEXT_LINE.match(second) and "it failed" in second
    assert any("ValueError: invalid literal for int() with base 10: '…'" in line for line in traceback)
    for secret in ("+14045551234", "jane.doe@", "topsecret-key", "Jane Doe"):
        assert secret not in text


def test_an_invalid_log_format_names_the_variable():
    from shared.settings import ConfigError, Settings

    with pytest.raises(ConfigError, match="LOG_FORMAT must be one of json, text"):
        Settings.from_env({"LOG_FORMAT": "xml"})
    assert Settings.from_env({"LOG_FORMAT": "TEXT"}).log_format == "text"


def on_a_terminal(command: list[str], env: dict[str, str], until, timeout: float = 60.0) -> str:
    """Run ``command`` with a pseudo-terminal as its stdout and stderr until ``until(output)``
    holds; then SIGINT it and return everything it wrote."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal,
                               cwd=env.get("HOME"), start_new_session=True)
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(output.decode(errors="replace")):
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    output += os.read(controller, 65536)
                except OSError:  # the process closed the terminal
                    break
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(controller)
    return output.decode(errors="replace")


def relay_env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "CALENDLY_WEBHOOK_SIGNING_KEY")}
    env.update(PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]), HOME=str(tmp_path), **extra)
    return env


def test_relay_worker_on_a_terminal_prints_readable_lines_and_json_when_asked(tmp_path, redis_url):
    worker = [str(BIN / "relay"), "worker", "--burst"]
    text = on_a_terminal(worker, relay_env(tmp_path, REDIS_URL=redis_url), lambda out: "worker starting" in out)
    [starting] = [line for line in text.splitlines() if "worker starting" in line]
    assert TEXT_LINE.match(starting) and "relay.cli: worker starting" in starting and '{"ts"' not in text
    asked = on_a_terminal(worker, relay_env(tmp_path, REDIS_URL=redis_url, LOG_FORMAT="json"),
                          lambda out: "worker starting" in out)
    [line] = [line for line in asked.splitlines() if "worker starting" in line]
    assert json.loads(line)["msg"] == "worker starting"


def test_relay_dev_on_a_terminal_shows_its_processes_lines_as_text(tmp_path):
    port = free_port()
    text = on_a_terminal([str(BIN / "relay"), "dev"], relay_env(tmp_path, PORT=str(port)),
                         lambda out: "scheduler starting" in out and "worker starting" in out, timeout=90)
    lines = [line.split("| ", 1)[1] for line in text.splitlines() if "| " in line and "starting" in line]
    assert len(lines) >= 2 and all(TEXT_LINE.match(ANSI.sub("", line)) for line in lines), lines
    assert all("\x1b[32mINFO" in line for line in lines)  # relay dev colours the levels on its terminal
    assert '{"ts"' not in text
