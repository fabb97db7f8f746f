"""Shared fixtures and helpers: the real `heitje` command, one poll helper, and stacks (a real
anvil chain with the token deployed, a running API and indexer) started by `scripts.stack`.

Stacks are shared per module (`module_stack`): tests on it use fresh usernames and task refs,
so they do not depend on each other. `stack` gives a test a stack of its own, for tests that
kill, restart or reconfigure services.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any, TypeVar

import pytest

from scripts.stack import HEITJE_COMMAND, Stack, start_stack

REPO = Path(__file__).resolve().parents[1]
SHARED_SCENARIOS = REPO.parent / "shared" / "scenarios"
TEST_ENV = {"HEITJE_ANNUAL_REWARD_CAP": "100.00"}
"""Settings of the test stacks: a yearly cap of 100 HEIT per citizen."""

T = TypeVar("T")


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a `heitje` child: the caller's without HEITJE_* and GETH_* settings,
    plain output, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEITJE_", "GETH_"))}
    env.update(COLUMNS="200", NO_COLOR="1", TERM="dumb", PYTHONPATH=str(REPO), **extra)
    return env


def run_heitje(
    *args: str, cwd: Path | None = None, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the real `heitje` command line as a child: no stdin, output captured, without the
    caller's HEITJE_* and GETH_* settings (plus `env`), plain output, in `cwd`."""
    return subprocess.run(
        [*HEITJE_COMMAND, *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def poll(condition: Callable[[], T], what: str, timeout: float = 60.0, interval: float = 0.05) -> T:
    """Call `condition()` until it returns something truthy and return that; fail the test
    naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


_names = count(1)


def fresh(prefix: str) -> str:
    """A name no other test in this session uses (usernames, task refs on a shared stack)."""
    return f"{prefix}{next(_names)}"


def shared_scenario(name: str) -> tuple[Path, dict[str, Any]]:
    """(scenario path, expected report) from ../shared/scenarios; skips when absent."""
    path = SHARED_SCENARIOS / f"{name}.json"
    expected = SHARED_SCENARIOS / f"{name}.expected.json"
    if not path.exists() or not expected.exists():
        pytest.skip(f"shared scenario {name} not found in {SHARED_SCENARIOS}")
    return path, json.loads(expected.read_text())


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of this test's own (yearly cap 100 HEIT, rehearsal clock)."""
    with start_stack(tmp_path / "data", env=TEST_ENV) as s:
        yield s


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack shared by the tests of a module (yearly cap 100 HEIT, rehearsal clock)."""
    with start_stack(tmp_path_factory.mktemp("stack") / "data", env=TEST_ENV) as s:
        yield s
