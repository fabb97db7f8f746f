"""The pinned geth and its processes: the binary and its version, the command line of a node,
starting and stopping geth, and JSON-RPC calls to a running node."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from node.network.layout import GETH_VERSION, Network, NetworkError, NodeSpec, _write_text

REPO_ROOT = Path(__file__).resolve().parents[2]


def geth_binary() -> Path:
    """The pinned geth: `tools/geth/bin/geth` (built by `make network-setup`).

    Raises `NetworkError` (`geth_missing`) when it is not built or is another version.
    """
    path = REPO_ROOT / "tools" / "geth" / "bin" / "geth"
    if not path.exists():
        raise NetworkError(
            f"geth not found at {path}: run `make network-setup`", code="geth_missing"
        )
    if geth_version(path) != GETH_VERSION:
        raise NetworkError(
            f"{path} is not geth {GETH_VERSION}: run `make network-setup`", code="geth_missing"
        )
    return path


def geth_version(path: Path) -> str | None:
    """The version `geth version` reports (e.g. "1.13.15"), None when it does not run."""
    try:
        out = subprocess.run(
            [str(path), "version"], capture_output=True, text=True, timeout=30, env=_geth_env()
        ).stdout
    except OSError:
        return None
    for line in out.splitlines():
        if line.startswith("Version: "):
            return line.removeprefix("Version: ").removesuffix("-stable").strip()
    return None


def _geth_env() -> dict[str, str]:
    """The environment for geth without GETH_* variables (geth reads each as a flag)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GETH_")}


# ----- processes --------------------------------------------------------------------------------


_children: dict[int, subprocess.Popen[bytes]] = {}
"""geth processes started by this Python process, so they are reaped (no zombies)."""


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def node_pid(net: Network, node: NodeSpec) -> int | None:
    """Pid of the geth running `node`, None when it is not running (a stale pid file is
    ignored: the process must be a geth with this node's datadir)."""
    try:
        pid = int((net.datadir(node) / "geth.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(pid):
        return None
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    datadir = str(net.datadir(node).resolve())
    if not cmdline or Path(cmdline[0]).name != "geth" or datadir not in cmdline:
        return None
    return pid


def _command(net: Network, node: NodeSpec, geth: Path) -> list[str]:
    datadir = net.datadir(node).resolve()
    return [
        str(geth),
        "--datadir", str(datadir),
        "--config", str(datadir / "config.toml"),
        "--networkid", str(net.chain_id),
        "--syncmode", "full",
        "--gcmode", "archive",  # the audit reads historical state
        "--state.scheme", "hash",  # archive mode needs the hash scheme in 1.13
        "--nodiscover",
        "--nat", "none",
        "--ipcdisable",
        "--http",
        "--http.addr", "127.0.0.1",
        "--http.port", str(node.http_port),
        "--http.api", "eth,net,web3,clique,txpool",
        "--authrpc.addr", "127.0.0.1",
        "--authrpc.port", str(node.authrpc_port),
        "--mine",
        "--miner.etherbase", node.address,
        "--miner.gaslimit", str(net.gas_limit),
        "--unlock", node.address,
        "--password", str(datadir / "password"),
        # Unlocking with HTTP enabled needs this; HTTP listens on 127.0.0.1 only and offers no
        # personal/admin API, so nothing reachable can use the unlocked key but the sealer.
        "--allow-insecure-unlock",
    ]  # fmt: skip


def _spawn(net: Network, node: NodeSpec, geth: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start geth for `node` in its own session, logging to its geth.log; returns the process
    and the log offset this run starts at."""
    log_path = net.log_path(node)
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            _command(net, node, geth), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, env=_geth_env(),
        )  # fmt: skip
    _children[proc.pid] = proc
    _write_text(net.datadir(node) / "geth.pid", f"{proc.pid}\n")
    return proc, offset


def _stop_pid(pid: int, grace: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # geth runs in its own session: pgid == pid
    child = _children.pop(pid, None)
    if child is not None:
        child.wait()


# ----- JSON-RPC ---------------------------------------------------------------------------------


def _rpc(url: str, method: str, params: list[Any] | None = None, timeout: float = 5.0) -> Any:
    """One JSON-RPC call; raises `NetworkError` (`rpc_error`) when the node does not answer or
    answers with an error."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    try:
        reply = httpx.post(url, json=body, timeout=timeout).json()
    except (httpx.HTTPError, ValueError) as e:
        raise NetworkError(f"{url} does not answer {method}: {e}", code="rpc_error") from None
    if "error" in reply:
        message = reply["error"].get("message")
        raise NetworkError(f"{method} at {url}: {message}", code="rpc_error")
    return reply["result"]


def _try_rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    try:
        return _rpc(url, method, params, timeout=2.0)
    except NetworkError:
        return None


def _block_number(node: NodeSpec) -> int | None:
    result = _try_rpc(node.rpc_url, "eth_blockNumber")
    return int(result, 16) if isinstance(result, str) else None
