"""Shared fixtures: a real anvil chain with the token deployed, a running API and indexer."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.anvil import Anvil, free_port
from node.manifest import Manifest
from node.token import Token, connect
from scripts.deploy import deploy, ensure_dev_keys, ensure_kek, open_reward_period
from scripts.services import Child, start_api, start_indexer

REPO = Path(__file__).resolve().parents[1]
SHARED_SCENARIOS = REPO.parent / "shared" / "scenarios"


def run_heitje(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real `heitje` command (as `python -m heitje`), no stdin, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "heitje", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def shared_scenario(name: str) -> tuple[Path, dict[str, Any]]:
    """(scenario path, expected report) from ../shared/scenarios; skips when absent."""
    path = SHARED_SCENARIOS / f"{name}.json"
    expected = SHARED_SCENARIOS / f"{name}.expected.json"
    if not path.exists() or not expected.exists():
        pytest.skip(f"shared scenario {name} not found in {SHARED_SCENARIOS}")
    return path, json.loads(expected.read_text())


@dataclass
class Stack:
    """A deployed chain with API and indexer running in `data_dir`."""

    data_dir: Path
    rpc_url: str
    manifest: Manifest
    token: Token
    api_url: str
    admin_password: str
    api: Child
    indexer: Child
    env: dict[str, str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, timeout=60)

    def restart_api(self, **env: str) -> None:
        """Stop (or after a crash, reap) the API and start it again on the same port."""
        self.api.stop()
        port = int(self.api_url.rsplit(":", 1)[1])
        self.api = start_api(self.data_dir, self.rpc_url, port, {**self.env, **env})


def start_stack(data_dir: Path, **env: str) -> tuple[Anvil, Stack]:
    chain = Anvil(data_dir)
    rpc_url = chain.start()
    ensure_dev_keys(data_dir)
    ensure_kek(data_dir)
    w3 = connect(rpc_url)
    manifest = deploy(w3, data_dir)
    open_reward_period(w3, data_dir, budget=10**12, cap_per_citizen=10**10)
    indexer = start_indexer(data_dir, rpc_url, poll=0.05)
    admin_password = secrets.token_urlsafe(12)
    base_env = {
        "HEITJE_REHEARSAL": "true",
        "HEITJE_COOKIE_SECURE": "false",
        "HEITJE_ANNUAL_REWARD_CAP": "100.00",
        "HEITJE_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
        **env,
    }
    port = free_port()
    api = start_api(data_dir, rpc_url, port, base_env)
    stack = Stack(
        data_dir,
        rpc_url,
        manifest,
        Token(w3, manifest.token),
        f"http://127.0.0.1:{port}",
        admin_password,
        api,
        indexer,
        base_env,
    )
    return chain, stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A fresh chain + API + indexer per test (yearly cap 100 HEIT, rehearsal clock)."""
    chain, s = start_stack(tmp_path / "data")
    try:
        yield s
    finally:
        s.api.stop()
        s.indexer.stop()
        chain.stop()
