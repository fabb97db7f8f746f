"""Shared fixtures and helpers: the real `heitje` command, one poll helper, and stacks (a real
anvil chain with the token deployed, a running API and indexer) started by `scripts.stack`.

Stacks are shared per module (`module_stack`): tests on it use fresh usernames and task refs,
so they do not depend on each other. `stack` gives a test a stack of its own, for tests that
kill, restart or reconfigure services (settings from its `stack_env` marker). Both are started
one ahead by `StackPrefetcher` while the tests before them run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from scripts.stack import HEITJE_COMMAND, Stack, start_stack

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REPO = Path(__file__).resolve().parents[1]
SHARED_SCENARIOS = REPO.parent / "shared" / "scenarios"
TEST_ENV = {
    "HEITJE_ANNUAL_REWARD_CAP": "100.00",
    "HEITJE_SIGNUP_PER_ADDRESS_PER_HOUR": "1000",
    "HEITJE_SIGNUP_PER_HOUR": "1000",
    "HEITJE_FOUR_EYES_THRESHOLD": "",
    "HEITJE_STAFF_SECOND_FACTOR": "false",
}
"""Settings of the test stacks: a yearly cap of 100 HEIT per citizen; the sign-up throttle
raised (every test client signs up from 127.0.0.1), never turned off; one approval per reward
(the four-eyes rule has its own tests, in tests/test_insiders.py, with the default); staff log
in with their password alone (the second factor has its own tests, in
tests/test_office_auth.py, with the default)."""

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


def heitje_on(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """`run_heitje(*args, --data-dir, --rpc-url)` against a running test stack."""
    return run_heitje(*args, "--data-dir", str(stack.data_dir), "--rpc-url", stack.rpc_url)


@contextmanager
def served(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A local HTTP server answering with `handler` in a thread; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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


# ----- stacks, started one ahead -----


class StackPrefetcher:
    """Starts the stacks the coming tests will ask for one ahead, in a background thread.

    The wanted stacks come from the selected tests, in their order: each module using
    `module_stack` wants one, each test using `stack` one of its own (`TEST_ENV` plus the
    settings of its `stack_env` marker). When one is taken, the next one is started in the
    background if its first test is in the same module or the next, so its start-up (anvil,
    deployment, indexer and API: several seconds on this machine) overlaps the tests before it.
    A stack still belongs to one owner, who stops it. One that failed to start in the
    background is started again in the foreground (which then reports the error); one never
    taken is stopped at the end of the session.
    """

    def __init__(self, base: Path, items: list[pytest.Item]) -> None:
        self.base = base
        self.wants: list[tuple[str, str, dict[str, str]]] = []  # key, its module, environment
        self.modules: list[str] = []  # modules in test order
        for item in items:
            module = item.nodeid.split("::")[0]
            if module not in self.modules:
                self.modules.append(module)
            names = getattr(item, "fixturenames", ())
            keys = [k for k, _, _ in self.wants]
            if "module_stack" in names and f"module {module}" not in keys:
                self.wants.append((f"module {module}", module, module_env(item)))
            if "stack" in names:
                self.wants.append((f"test {item.nodeid}", module, stack_env(item)))
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="stack-prefetch")
        self.ahead: dict[str, tuple[dict[str, str], Future[Stack]]] = {}
        self.taken: set[str] = set()

    def _start(self, key: str, env: dict[str, str]) -> Stack:
        return start_stack(self.base / re.sub(r"\W+", "-", key) / "data", env=env)

    def take(self, key: str, env: dict[str, str]) -> Stack:
        """The stack for `key` (started ahead, or now); the caller owns and stops it."""
        ahead = self.ahead.pop(key, None)
        self.taken.add(key)
        self._start_next_after(key)
        if ahead is not None:
            started_env, future = ahead
            try:
                stack = future.result()
            except Exception:  # started again below, where it fails visibly
                pass
            else:
                if started_env == env:
                    return stack
                stack.stop()
        return self._start(key, env)

    def _start_next_after(self, key: str) -> None:
        keys = [k for k, _, _ in self.wants]
        if key not in keys or keys.index(key) + 1 == len(keys):
            return
        _, module, _ = self.wants[keys.index(key)]
        next_key, next_module, env = self.wants[keys.index(key) + 1]
        near = self.modules.index(next_module) - self.modules.index(module) <= 1
        if near and next_key not in self.taken and next_key not in self.ahead:
            self.ahead[next_key] = (env, self.pool.submit(self._start, next_key, env))

    def close(self) -> None:
        """Stop the stacks started for tests that never took them."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        for _, future in self.ahead.values():
            if not future.cancelled() and future.exception() is None:
                future.result().stop()
        self.ahead.clear()


def stack_env(node: pytest.Item | pytest.FixtureRequest) -> dict[str, str]:
    """`TEST_ENV` plus the settings of the test's `stack_env` marker."""
    item = node.node if isinstance(node, pytest.FixtureRequest) else node
    marker = item.get_closest_marker("stack_env")
    return {**TEST_ENV, **(marker.kwargs if marker else {})}


def module_env(node: pytest.Item | pytest.Module) -> dict[str, str]:
    """`TEST_ENV` plus the settings of the module's own `stack_env` marker (`pytestmark`), for
    its `module_stack`."""
    module = node if isinstance(node, pytest.Module) else node.getparent(pytest.Module)
    marker = module.get_closest_marker("stack_env") if module is not None else None
    return {**TEST_ENV, **(marker.kwargs if marker else {})}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "stack_env(**settings): HEITJE_* settings of the test's own `stack` (on a module: "
        "of its `module_stack` too)",
    )


@pytest.fixture(scope="session")
def stack_prefetcher(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackPrefetcher]:
    prefetcher = StackPrefetcher(tmp_path_factory.mktemp("stacks"), request.session.items)
    try:
        yield prefetcher
    finally:
        prefetcher.close()


@pytest.fixture
def stack(request: pytest.FixtureRequest, stack_prefetcher: StackPrefetcher) -> Iterator[Stack]:
    """A stack of this test's own (yearly cap 100 HEIT, rehearsal clock, plus the settings of
    the test's `stack_env` marker)."""
    with stack_prefetcher.take(f"test {request.node.nodeid}", stack_env(request)) as s:
        yield s


@pytest.fixture(scope="module")
def module_stack(
    request: pytest.FixtureRequest, stack_prefetcher: StackPrefetcher
) -> Iterator[Stack]:
    """One stack shared by the tests of a module (yearly cap 100 HEIT, rehearsal clock, plus
    the settings of a module-level `stack_env` marker: `pytestmark`)."""
    module = request.node.nodeid.split("::")[0]
    env = module_env(request.node) if isinstance(request.node, pytest.Module) else TEST_ENV
    with stack_prefetcher.take(f"module {module}", dict(env)) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, shared by a module's tests in a browser (tests/browser.py;
    mark them `@browser_test` so they are skipped without chromium or playwright)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
