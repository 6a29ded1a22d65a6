"""Fixtures of the fault suite: its own restartable Redis, the relay's processes, a scan
of every log line they wrote, and the figures printed at the end of the run."""

from __future__ import annotations

import re

import pytest

from tests.fakes import FakeBrevo
from tests.faults import harness
from tests.helpers import SIGNING_KEY, free_port

FULL_PHONE = re.compile(r"\+\d{8,15}|\b\d{3}[ -]\d{3}[ -]\d{4}\b"
                        r"|\(\d{3}\) ?\d{3}-\d{4}"  # (404) 555-9876
                        # national formats: 020 7946 0958, 0151 23456789, 06 12 34 56 78, 030/12345678
                        r"|(?<![\d*.:-])0\d{1,4}[ /]\d{2,8}(?:[ ]\d{2,4}){0,3}(?![\d*])")
FULL_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
SECRETS = (SIGNING_KEY, harness.ENGAGELAB_SECRET, harness.ADMIN_TOKEN, FakeBrevo.API_KEY, harness.CALLBACK_SECRET)


@pytest.fixture
def redis_server(tmp_path):
    server = harness.RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_stack(tmp_path):
    """``make_stack(redis_url, **env)``: the relay's processes, stopped after the test,
    whose logs must hold no full phone number, e-mail address or secret."""
    stacks = []

    def make(redis_url: str, **extra: str) -> harness.Stack:
        log_dir = tmp_path / f"stack{len(stacks)}"
        log_dir.mkdir()
        stack = harness.Stack(harness.relay_env(redis_url, free_port(), **extra), log_dir)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()
    for stack in stacks:
        assert_logs_clean(stack.logs())


def assert_logs_clean(text: str) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        for secret in SECRETS:
            assert secret not in line, f"log line {number} holds a secret: {line[:200]}"
        assert not FULL_PHONE.search(line), f"log line {number} holds a full phone number: {line[:300]}"
        assert not FULL_EMAIL.search(line), f"log line {number} holds an e-mail address: {line[:300]}"


def pytest_terminal_summary(terminalreporter):
    lines = harness.report_lines()
    if lines:
        terminalreporter.section("fault suite: messages under injected faults")
        for line in lines:
            terminalreporter.write_line(line)
    timings = harness.timing_lines()
    if timings:
        terminalreporter.section("fault suite: measured durations")
        for line in timings:
            terminalreporter.write_line(line)
