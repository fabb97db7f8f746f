"""Running the network: `up` (geth init, start, wait until the nodes seal), `down` and `kill`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from node.network.geth import (
    _alive,
    _block_number,
    _children,
    _geth_env,
    _spawn,
    _stop_pid,
    _try_rpc,
    geth_binary,
    node_pid,
)
from node.network.layout import Network, NetworkError, NodeSpec, _port_free, _write_text

FIRST_BLOCK_GRACE = 8
"""Seconds from a fresh network's first `up` to its first block (the genesis timestamp is set
this far ahead): every node must unlock its key and seal before block 1, see `_delay_genesis`."""


def _delay_genesis(net: Network) -> None:
    """Before a fresh network's first start: set the genesis timestamp FIRST_BLOCK_GRACE
    seconds ahead, so block 1 is due only when every node seals.

    A geth node drops the blocks it receives until it has unlocked its signer key and started
    sealing ("Syncing, discarded propagated block"), and Clique's head time is whole seconds, so
    after an old genesis every node may seal block 1 at once. If one node's block 1 is dropped
    by the others while each of them seals its own, every node holds a different block 1 that
    it signed itself and none may sign block 2: the network never moves. With block 1 due in
    the future, the in-turn signer seals it on time and the others wait their random delay.
    """
    path = net.directory / "genesis.json"
    spec = json.loads(path.read_text())
    spec["timestamp"] = hex(int(time.time()) + FIRST_BLOCK_GRACE)
    _write_text(path, json.dumps(spec, indent=1) + "\n")


def _geth_init(net: Network, node: NodeSpec, geth: Path) -> None:
    """`geth init genesis.json` once per datadir (before its first start)."""
    datadir = net.datadir(node).resolve()
    if (datadir / "geth" / "chaindata").exists():
        return
    result = subprocess.run(
        [str(geth), "--datadir", str(datadir), "--state.scheme", "hash", "init",
         str(net.directory.resolve() / "genesis.json")],
        capture_output=True, text=True, env=_geth_env(), timeout=120,
    )  # fmt: skip
    if result.returncode != 0:
        shutil.rmtree(datadir / "geth" / "chaindata", ignore_errors=True)
        lines = [ln for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
        raise NetworkError(
            f"geth init of {node.name} failed: {lines[-1] if lines else result.returncode}",
            code="node_start_failed",
        )


def _log_failure(log: Path, offset: int) -> str:
    """The most telling line geth wrote since `offset`: a Fatal line, else the last one."""
    try:
        with log.open("rb") as f:
            f.seek(offset)
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines()]
    except OSError:
        return "no log"
    lines = [ln for ln in lines if ln]
    for line in reversed(lines):
        if line.startswith("Fatal") or "Fatal:" in line:
            return line
    return lines[-1] if lines else "no output"


def _start_failed(net: Network, node: NodeSpec, proc: subprocess.Popen[bytes], offset: int) -> None:
    """Raise `node_start_failed` with geth's own message when `proc` has exited."""
    if proc.poll() is None:
        return
    _children.pop(proc.pid, None)
    (net.datadir(node) / "geth.pid").unlink(missing_ok=True)
    log_path = net.log_path(node)
    raise NetworkError(
        f"{node.name} failed to start (exit {proc.returncode}): "
        f"{_log_failure(log_path, offset)}; see {log_path}",
        code="node_start_failed",
    )


def up(directory: Path, index: int | None = None, *, timeout: float = 60.0) -> list[NodeSpec]:
    """Start every node (or node `index`) that is not running; returns those started.

    The nodes start together: each opens its p2p port before it dials, and unlocking the signer
    key (scrypt, about a second) comes after that, so the peer mesh is there before anyone
    seals; on a fresh network block 1 is due only FIRST_BLOCK_GRACE seconds after the first
    start (`_delay_genesis`). Waits until every started node seals (`eth_mining`) and has a
    peer (when another node runs), and a new block is sealed (not with period 0, which seals
    only for transactions). A node that was down catches up in the background
    (geth syncs from a peer within about ten seconds; `status` shows its head).
    Raises `NetworkError`: `geth_missing`, `port_taken` (checked before anything starts),
    `node_start_failed` (with geth's own message), `no_blocks` (the nodes run, but no block
    came within `timeout`, e.g. when most signers are down).
    """
    net = Network.load(directory)
    selected = [n for n in net.select(index) if node_pid(net, n) is None]
    if not selected:
        return []
    geth = geth_binary()
    for node in selected:
        ports = {"p2p": node.p2p_port, "http": node.http_port, "authrpc": node.authrpc_port}
        for what, port in ports.items():
            if not _port_free(port):
                raise NetworkError(
                    f"port {port} ({what} of {node.name}) is taken on 127.0.0.1",
                    code="port_taken",
                )
    fresh = not any((net.datadir(n) / "geth" / "chaindata").exists() for n in net.nodes)
    if fresh and net.period > 0:
        _delay_genesis(net)
    for node in selected:
        _geth_init(net, node, geth)
    started = [(node, *_spawn(net, node, geth)) for node in selected]
    deadline = time.monotonic() + timeout
    pending = list(started)
    while pending:  # eth_mining turns true once geth unlocked the signer key and seals
        for node, proc, offset in list(pending):
            _start_failed(net, node, proc, offset)
            if _try_rpc(node.rpc_url, "eth_mining") is True:
                pending.remove((node, proc, offset))
        if pending and time.monotonic() > deadline:
            names = ", ".join(node.name for node, _, _ in pending)
            raise NetworkError(
                f"{names} did not start sealing within {timeout:.0f}s; see their geth.log",
                code="node_start_failed",
            )
        time.sleep(0.1)
    running = [n for n in net.nodes if node_pid(net, n) is not None]
    start_head = max((_block_number(n) or 0) for n in running)
    while True:
        waiting = []
        for node, proc, offset in started:
            _start_failed(net, node, proc, offset)
            peers = _try_rpc(node.rpc_url, "net_peerCount")
            if len(running) > 1 and (peers is None or int(peers, 16) < 1):
                waiting.append(f"{node.name} has no peer")
        if net.period > 0 and max((_block_number(n) or 0) for n in running) <= start_head:
            waiting.append("no new block was sealed")  # period 0 seals only for transactions
        if not waiting:
            return selected
        if time.monotonic() > deadline:
            raise NetworkError(
                f"the nodes run but {', '.join(waiting)} within {timeout:.0f}s "
                "(more than half of the signers must run to seal blocks)",
                code="no_blocks",
            )
        time.sleep(0.2)


def down(directory: Path, index: int | None = None, *, grace: float = 30.0) -> list[NodeSpec]:
    """Stop every running node (or node `index`): SIGTERM so geth flushes its database, SIGKILL
    after `grace` seconds. Returns the nodes that were running."""
    net = Network.load(directory)
    stopped = []
    for node in net.select(index):
        pid = node_pid(net, node)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            stopped.append((node, pid))
    for node, pid in stopped:
        _stop_pid(pid, grace)
        (net.datadir(node) / "geth.pid").unlink(missing_ok=True)
    return [node for node, _ in stopped]


def kill(directory: Path, index: int) -> None:
    """SIGKILL node `index` (a crash, for fault tests): no shutdown, no flush."""
    net = Network.load(directory)
    node = net.node(index)
    pid = node_pid(net, node)
    if pid is None:
        raise NetworkError(f"{node.name} is not running", code="not_running")
    os.kill(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.05)
    child = _children.pop(pid, None)
    if child is not None:
        child.wait()
