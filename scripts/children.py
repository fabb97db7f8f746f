"""The child processes of a local stack (`scripts.stack`): the API and the indexer, each with
its log file in the data dir (`DataDir.logs`).

Standard library only (and `heitje`): `heitje demo` starts the API's child (`hold_api`) before
it imports web3 and the rest of its own code, so both processes import at once, on both cores.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from heitje.datadir import DataDir
from heitje.errors import HeitjeError
from node.ports import free_port


class ServiceStartError(HeitjeError, RuntimeError):
    """A child service did not come up."""

    code = "service_start_failed"


class Child:
    """A child process with its log file; `stop()` sends SIGTERM, then SIGKILL after a grace."""

    def __init__(
        self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path, *, held: bool = False
    ) -> None:
        """Start `cmd`; `held`: its stdin is a pipe the child waits on (`release`)."""
        self.name = name
        self._terminated = False
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if held else subprocess.DEVNULL,
                start_new_session=True,
            )

    def release(self, env: dict[str, str] | None = None) -> None:
        """Tell a `held` child to go on with `env` added to its environment (one JSON line on
        its stdin, then end of file: `WARM_START`)."""
        stdin = self.process.stdin
        if stdin is not None:
            self.process.stdin = None
            try:
                stdin.write(json.dumps(env or {}).encode() + b"\n")
                stdin.close()
            except BrokenPipeError:  # it is gone: `wait_api` says so
                pass

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        """SIGTERM, not waiting (`stop` waits): children told together stop side by side."""
        if self.process.poll() is None and not self._terminated:
            self._terminated = True  # once: a second SIGTERM makes uvicorn skip its shutdown
            self.process.send_signal(signal.SIGTERM)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM (once), then SIGKILL to its process group after `grace` seconds."""
        if self.process.poll() is not None:
            return
        self.terminate()
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


WARM_START = """import json, os, sys
import api.app, uvicorn.main, web.pages, web.tasks  # the API's imports, while the chain gets ready
try:
    env = json.loads(sys.stdin.readline())
except ValueError:
    sys.exit(0)  # end of file: the stack was not started after all
if not isinstance(env, dict):
    sys.exit(0)
os.environ.update(env)
sys.argv = sys.argv[1:]
uvicorn.main.main()
"""
"""`python -c` program of a held API child (`hold_api`): it imports the app (about 2 s of CPU)
while the stack starts the chain and deploys the token, waits for its settings (a JSON object
of environment variables on one line of its stdin: `Child.release`), then runs `uvicorn` with
the rest of its command line."""


def _serve(port: int) -> list[str]:
    """The `uvicorn` command line of the API on 127.0.0.1:`port`."""
    serve = ["uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
    return [*serve, "--port", str(port), "--log-level", "warning"]


def spawn_api(data_dir: Path, rpc_url: str, port: int, env: dict[str, str]) -> tuple[Child, str]:
    """Start `uvicorn api.app:create_app --factory` on 127.0.0.1:`port` with `env` (HEITJE_*
    settings); (the child, its instance id). `scripts.stack.wait_api` waits until it answers."""
    instance = secrets.token_hex(8)
    child = Child(
        "api",
        [sys.executable, "-m", *_serve(port)],
        {
            "HEITJE_DATA_DIR": str(data_dir),
            "HEITJE_RPC_URL": rpc_url,
            **env,
            "HEITJE_INSTANCE_ID": instance,
        },
        DataDir(data_dir).logs,
    )
    return child, instance


@dataclass
class HeldApi:
    """An API child importing its code and waiting for its settings (`hold_api`)."""

    child: Child
    instance: str
    """Its instance id: `/health/live` answers it, so a waiter knows it is this child."""
    port: int


def hold_api(data_dir: Path, port: int | None = None) -> HeldApi:
    """Start the API's child for `data_dir` on `port` (a free one if None), held: it imports
    its code now and reads no settings, keys or deployment before `child.release(env)` gives
    the rest of its environment (HEITJE_RPC_URL and the other settings; `WARM_START`)."""
    port = free_port() if port is None else port
    instance = secrets.token_hex(8)
    child = Child(
        "api",
        [sys.executable, "-c", WARM_START, *_serve(port)],
        {"HEITJE_DATA_DIR": str(data_dir), "HEITJE_INSTANCE_ID": instance},
        DataDir(data_dir).logs,
        held=True,
    )
    return HeldApi(child, instance, port)
