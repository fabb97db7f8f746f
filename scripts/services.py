"""Child processes for a local stack: the API (uvicorn) and the indexer, started and stopped
cleanly, with their logs in the data dir."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from heitje.errors import HeitjeError


class ServiceStartError(HeitjeError, RuntimeError):
    """A child service did not come up."""

    code = "service_start_failed"


class Child:
    """A child process with its log file; `stop()` sends SIGTERM, then SIGKILL after a grace."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL at once (crash tests)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_api(
    data_dir: Path, rpc_url: str, port: int, env: dict[str, str], timeout: float = 60.0
) -> Child:
    """Start `uvicorn api.app:create_app --factory` on 127.0.0.1:`port`; wait until /health
    answers with this child's own instance id (not another service that holds the port)."""
    instance = secrets.token_hex(8)
    child = Child(
        "api",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        {
            "HEITJE_DATA_DIR": str(data_dir),
            "HEITJE_RPC_URL": rpc_url,
            **env,
            "HEITJE_INSTANCE_ID": instance,
        },
        data_dir / "logs",
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise ServiceStartError(f"the API exited; see {child.log_path}")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            if r.status_code == 200 and r.json().get("instance") == instance:
                return child
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    child.stop()
    raise ServiceStartError(f"the API did not answer within {timeout}s; see {child.log_path}")


def start_indexer(
    data_dir: Path, rpc_url: str, *, confirmations: int = 0, poll: float = 0.1
) -> Child:
    """Start `heitje indexer run` for `data_dir`."""
    return Child(
        "indexer",
        [
            sys.executable,
            "-m",
            "heitje",
            "indexer",
            "run",
            "--data-dir",
            str(data_dir),
            "--rpc-url",
            rpc_url,
            "--confirmations",
            str(confirmations),
            "--poll",
            str(poll),
        ],
        {},
        data_dir / "logs",
    )
