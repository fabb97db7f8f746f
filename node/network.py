"""The permissioned network: geth v1.13.15 Clique validators on loopback, kept in one directory.

`init_network` writes everything a network needs; `up`, `down`, `status` and `propose` run it.
Every port binds to 127.0.0.1; peers find each other through static enode URLs only (no
discovery, no NAT). Python signs transactions locally as everywhere else: the signer key a
node unlocks is used by geth for sealing blocks only. Layout of DIR (paths in `network.json` are
relative to DIR, so the directory can move):

```
DIR/
  network.json      format, chain id, period, gas limit, service accounts, one entry per node:
                    index, signer address, enode URL, ports {p2p, http, authrpc}
  genesis.json      Clique genesis: signers in extraData, service accounts prefunded
  keys/<role>.key   service keys (node.keys, mode 0600): admin minter registrar pauser relayer
  node-I/           geth datadir of validator I:
    keystore/       the signer key in geth's encrypted JSON keystore format (v3, scrypt)
    password        its password, mode 0600
    geth/nodekey    p2p identity (the enode's key), mode 0600
    config.toml     [Node.P2P] listen address on loopback and static peers
    geth.log        geth's log (appended at every start)
    geth.pid        pid of the running geth
```

Errors are `NetworkError` with a stable `code`: `network_exists`, `no_network`, `geth_missing`,
`port_taken`, `node_start_failed`, `no_blocks`, `not_running`, `vote_failed`, `invalid_input`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_typing import ChecksumAddress
from web3 import Web3

from heitje.errors import HeitjeError
from node.keys import SERVICE_ROLES, load_key, write_key

GETH_VERSION = "1.13.15"
"""The pinned geth: the last release that seals Clique blocks (`make network-setup`)."""

DEFAULT_CHAIN_ID = 46_401
"""Private chain id of the permissioned network (the embedded anvil chain uses 46400)."""

DEFAULT_PERIOD = 1
"""Seconds between Clique blocks. 0 seals on demand: a block only when transactions are pending
(geth's Clique "dev mode"; for benchmarks that need many blocks quickly, not for production)."""

FIRST_BLOCK_GRACE = 8
"""Seconds from a fresh network's first `up` to its first block (the genesis timestamp is set
this far ahead): every node must unlock its key and seal before block 1, see `_delay_genesis`."""

GAS_LIMIT = 30_000_000
"""Block gas limit of the genesis, kept by the miners (`--miner.gaslimit`)."""

PREFUND_WEI = 10**24
"""Native coin given to each service account in the genesis (1,000,000 coins of 10**18 wei)."""

CLIQUE_EPOCH = 30_000
"""Blocks between Clique checkpoints (pending votes are reset there)."""

FORMAT = "heitje-network/1"
REPO_ROOT = Path(__file__).resolve().parents[1]
PORT_RANGE = (20_000, 32_000)
"""Ports are picked below Linux's ephemeral range (32768-60999), so outgoing connections of
other programs do not take them between `init` and `up`."""


class NetworkError(HeitjeError, RuntimeError):
    """The network could not be set up, started, stopped or voted on."""

    code = "network_error"


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


# ----- the network description ------------------------------------------------------------------


@dataclass(frozen=True)
class NodeSpec:
    """One validator: its index (from 1), signer address, enode URL and loopback ports."""

    index: int
    address: ChecksumAddress
    enode: str
    p2p_port: int
    http_port: int
    authrpc_port: int

    @property
    def name(self) -> str:
        """Directory and display name, e.g. "node-2"."""
        return f"node-{self.index}"

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC endpoint, e.g. http://127.0.0.1:21234."""
        return f"http://127.0.0.1:{self.http_port}"


@dataclass(frozen=True)
class Network:
    """A network directory as described by its `network.json`."""

    directory: Path
    chain_id: int
    period: int
    gas_limit: int
    service_accounts: dict[str, ChecksumAddress]
    nodes: tuple[NodeSpec, ...]

    @classmethod
    def load(cls, directory: Path) -> Network:
        """Read `directory/network.json`. Raises `NetworkError` (`no_network`)."""
        path = Path(directory) / "network.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise NetworkError(
                f"no network in {directory} (run `heitje network init --dir {directory}`)",
                code="no_network",
            ) from None
        if data.get("format") != FORMAT:
            raise NetworkError(f"{path} is not a {FORMAT} file", code="no_network")
        return cls(
            directory=Path(directory),
            chain_id=int(data["chain_id"]),
            period=int(data["period"]),
            gas_limit=int(data["gas_limit"]),
            service_accounts={
                r: Web3.to_checksum_address(a) for r, a in data["service_accounts"].items()
            },
            nodes=tuple(
                NodeSpec(
                    index=int(n["index"]),
                    address=Web3.to_checksum_address(n["address"]),
                    enode=str(n["enode"]),
                    p2p_port=int(n["ports"]["p2p"]),
                    http_port=int(n["ports"]["http"]),
                    authrpc_port=int(n["ports"]["authrpc"]),
                )
                for n in data["nodes"]
            ),
        )

    def save(self) -> None:
        """Write `network.json` (paths relative to the directory)."""
        data = {
            "format": FORMAT,
            "geth_version": GETH_VERSION,
            "chain_id": self.chain_id,
            "period": self.period,
            "gas_limit": self.gas_limit,
            "genesis": "genesis.json",
            "keys_dir": "keys",
            "service_accounts": self.service_accounts,
            "nodes": [
                {
                    "index": n.index,
                    "name": n.name,
                    "address": n.address,
                    "enode": n.enode,
                    "rpc_url": n.rpc_url,
                    "ports": {"p2p": n.p2p_port, "http": n.http_port, "authrpc": n.authrpc_port},
                    "datadir": n.name,
                    "keystore": f"{n.name}/keystore",
                    "password_file": f"{n.name}/password",
                    "config": f"{n.name}/config.toml",
                    "log": f"{n.name}/geth.log",
                    "pid_file": f"{n.name}/geth.pid",
                }
                for n in self.nodes
            ],
        }
        _write_text(self.directory / "network.json", json.dumps(data, indent=1) + "\n")

    def node(self, index: int) -> NodeSpec:
        """The node with `index`. Raises `NetworkError` (`invalid_input`)."""
        for n in self.nodes:
            if n.index == index:
                return n
        known = ", ".join(str(n.index) for n in self.nodes)
        raise NetworkError(
            f"no node {index} in {self.directory} (nodes: {known})", code="invalid_input"
        )

    def select(self, index: int | None) -> tuple[NodeSpec, ...]:
        """Every node, or only node `index`."""
        return self.nodes if index is None else (self.node(index),)

    def datadir(self, node: NodeSpec) -> Path:
        """geth's --datadir of `node`."""
        return self.directory / node.name

    def log_path(self, node: NodeSpec) -> Path:
        """The log geth writes for `node`."""
        return self.datadir(node) / "geth.log"

    @property
    def rpc_url(self) -> str:
        """RPC URL of the first node (the product's default endpoint)."""
        return self.nodes[0].rpc_url


def _write_text(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _port_free(port: int) -> bool:
    """True when a listener could bind 127.0.0.1:`port` now (with SO_REUSEADDR, as Go does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pick_ports(count: int, taken: set[int]) -> list[int]:
    rng = random.SystemRandom()
    ports: list[int] = []
    while len(ports) < count:
        port = rng.randrange(*PORT_RANGE)
        if port not in taken and port not in ports and _port_free(port):
            ports.append(port)
    return ports


def _new_node(directory: Path, index: int, taken: set[int]) -> NodeSpec:
    """Create node-`index`'s directory: encrypted signer key, password file, p2p node key."""
    p2p, http, authrpc = _pick_ports(3, taken)
    datadir = directory / f"node-{index}"
    (datadir / "keystore").mkdir(parents=True, exist_ok=True, mode=0o700)
    password = secrets.token_urlsafe(32)
    _write_text(datadir / "password", password + "\n", 0o600)
    signer = Account.create()
    keystore = Account.encrypt(signer.key, password)  # geth's v3 keystore JSON, scrypt
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S.%fZ")
    _write_text(
        datadir / "keystore" / f"UTC--{stamp}--{signer.address[2:].lower()}",
        json.dumps(keystore),
        0o600,
    )
    nodekey = PrivateKey(secrets.token_bytes(32))
    (datadir / "geth").mkdir(exist_ok=True, mode=0o700)
    _write_text(datadir / "geth" / "nodekey", nodekey.to_hex()[2:], 0o600)
    pubkey = nodekey.public_key.to_hex()[2:]
    return NodeSpec(
        index=index,
        address=Web3.to_checksum_address(signer.address),
        enode=f"enode://{pubkey}@127.0.0.1:{p2p}",
        p2p_port=p2p,
        http_port=http,
        authrpc_port=authrpc,
    )


def _write_configs(net: Network) -> None:
    """Each node's config.toml: p2p on loopback only, no discovery, every other node static."""
    for node in net.nodes:
        peers = ", ".join(json.dumps(o.enode) for o in net.nodes if o.index != node.index)
        text = (
            "# Written by `heitje network`; read by geth --config. Flags add the rest.\n"
            "[Node.P2P]\n"
            f'ListenAddr = "127.0.0.1:{node.p2p_port}"\n'
            "NoDiscovery = true\n"
            "BootstrapNodes = []\n"
            "BootstrapNodesV5 = []\n"
            f"StaticNodes = [{peers}]\n"
        )
        _write_text(net.datadir(node) / "config.toml", text)


def genesis(
    signers: list[ChecksumAddress],
    prefunded: list[ChecksumAddress],
    *,
    chain_id: int,
    period: int,
    gas_limit: int,
) -> dict[str, Any]:
    """A Clique genesis (geth's genesis.json shape).

    London rules from block 0 and no terminal total difficulty, so the chain never expects a
    merge and Clique keeps sealing. Paris bytecode runs unchanged under London (no new opcodes;
    PREVRANDAO is DIFFICULTY's opcode). extraData is 32 zero bytes of vanity, the signer
    addresses in ascending order, 65 zero bytes for the seal.
    """
    if not signers:
        raise NetworkError("a Clique genesis needs at least one signer", code="invalid_input")
    ordered = sorted(signers, key=lambda a: int(a, 16))
    extra = "0x" + "00" * 32 + "".join(a[2:].lower() for a in ordered) + "00" * 65
    forks = [
        "homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock",
        "constantinopleBlock", "petersburgBlock", "istanbulBlock", "muirGlacierBlock",
        "berlinBlock", "londonBlock", "arrowGlacierBlock", "grayGlacierBlock",
    ]  # fmt: skip
    config: dict[str, Any] = {"chainId": chain_id, **dict.fromkeys(forks, 0)}
    config["clique"] = {"period": period, "epoch": CLIQUE_EPOCH}
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": hex(int(time.time())),
        "extraData": extra,
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "mixHash": "0x" + "00" * 32,
        "coinbase": "0x" + "00" * 20,
        "alloc": {a[2:].lower(): {"balance": hex(PREFUND_WEI)} for a in prefunded},
        "number": "0x0",
        "gasUsed": "0x0",
        "parentHash": "0x" + "00" * 32,
    }


def init_network(
    directory: Path,
    validators: int = 3,
    *,
    chain_id: int = DEFAULT_CHAIN_ID,
    period: int = DEFAULT_PERIOD,
    gas_limit: int = GAS_LIMIT,
) -> Network:
    """Create a network of `validators` Clique signers in `directory` (layout: module doc).

    Service keys already in `directory/keys` are kept and prefunded; missing ones are created.
    `period` 0 seals on demand (a block only when transactions are pending).
    Raises `NetworkError`: `network_exists` when `directory` already holds a network,
    `invalid_input` for fewer than one validator, a negative period or a chain id below one.
    """
    directory = Path(directory)
    if validators < 1:
        raise NetworkError("--validators must be at least 1", code="invalid_input")
    if period < 0:
        raise NetworkError(
            "--period must be 0 (seal on demand) or more seconds", code="invalid_input"
        )
    if chain_id < 1:
        raise NetworkError("--chain-id must be a positive integer", code="invalid_input")
    if (directory / "network.json").exists() or any(directory.glob("node-*")):
        raise NetworkError(f"{directory} already holds a network", code="network_exists")
    directory.mkdir(parents=True, exist_ok=True)
    service: dict[str, ChecksumAddress] = {}
    for role in SERVICE_ROLES:
        path = directory / "keys" / f"{role}.key"
        if not path.exists():
            write_key(path, Account.create().key.hex())
        service[role] = load_key(path).address
    taken: set[int] = set()
    nodes = []
    for index in range(1, validators + 1):
        node = _new_node(directory, index, taken)
        taken |= {node.p2p_port, node.http_port, node.authrpc_port}
        nodes.append(node)
    spec = genesis(
        [n.address for n in nodes],
        list(service.values()),
        chain_id=chain_id,
        period=period,
        gas_limit=gas_limit,
    )
    _write_text(directory / "genesis.json", json.dumps(spec, indent=1) + "\n")
    net = Network(directory, chain_id, period, gas_limit, service, tuple(nodes))
    _write_configs(net)
    net.save()
    return net


def add_node(directory: Path) -> NodeSpec:
    """Add validator node-(N+1): its keys, ports and config, peered with every other node.

    The other nodes' config.toml list it from their next start; the new node dials them as soon
    as it runs, so nobody needs a restart. It seals once the signers vote it in (`propose`).
    """
    net = Network.load(directory)
    taken = {p for n in net.nodes for p in (n.p2p_port, n.http_port, n.authrpc_port)}
    node = _new_node(net.directory, max(n.index for n in net.nodes) + 1, taken)
    net = Network(
        net.directory,
        net.chain_id,
        net.period,
        net.gas_limit,
        net.service_accounts,
        (*net.nodes, node),
    )
    _write_configs(net)
    net.save()
    return node


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


def _block_number(node: NodeSpec) -> int | None:
    result = _try_rpc(node.rpc_url, "eth_blockNumber")
    return int(result, 16) if isinstance(result, str) else None


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


# ----- status and votes -------------------------------------------------------------------------


def signers(directory: Path) -> list[ChecksumAddress] | None:
    """The current Clique signer set (clique_getSigners of the first running node), or None
    when no node runs."""
    net = Network.load(directory)
    for node in net.nodes:
        if node_pid(net, node) is not None:
            result = _try_rpc(node.rpc_url, "clique_getSigners")
            if isinstance(result, list):
                return [Web3.to_checksum_address(a) for a in result]
    return None


def status(directory: Path) -> dict[str, Any]:
    """The network as JSON-ready data: chain id, the current signer set (clique_getSigners of
    the first running node; None when none runs) and, per node: RPC URL, whether it runs, head
    block number and hash and peer count (None when it does not run or answer), and whether
    its signer address is in the current signer set."""
    net = Network.load(directory)
    nodes = []
    signer_set: list[ChecksumAddress] | None = None
    for node in net.nodes:
        pid = node_pid(net, node)
        entry: dict[str, Any] = {
            "node": node.index,
            "name": node.name,
            "address": node.address,
            "rpc_url": node.rpc_url,
            "running": pid is not None,
            "pid": pid,
            "block": None,
            "hash": None,
            "peers": None,
            "signer": None,
        }
        if pid is not None:
            head = _try_rpc(node.rpc_url, "eth_getBlockByNumber", ["latest", False])
            peers = _try_rpc(node.rpc_url, "net_peerCount")
            if isinstance(head, dict):
                entry["block"] = int(head["number"], 16)
                entry["hash"] = head["hash"]
            if isinstance(peers, str):
                entry["peers"] = int(peers, 16)
            if signer_set is None:
                own = _try_rpc(node.rpc_url, "clique_getSigners")
                if isinstance(own, list):
                    signer_set = [Web3.to_checksum_address(a) for a in own]
        nodes.append(entry)
    if signer_set is not None:
        for entry in nodes:
            entry["signer"] = entry["address"] in signer_set
    return {
        "directory": str(net.directory),
        "chain_id": net.chain_id,
        "period": net.period,
        "signers": signer_set,
        "nodes": nodes,
    }


def propose(
    directory: Path, address: str, *, authorize: bool, wait: float = 60.0
) -> dict[str, Any]:
    """Cast the Clique vote to add (`authorize`) or remove `address` from every running signer.

    With `wait` > 0, waits until the signer set changed and then discards the proposal on
    every running node (a vote geth keeps would otherwise be cast again should the signer set
    ever change back). Returns {"address", "authorize", "voters": [node indices], "signers":
    the signer set at the end}. Raises `NetworkError`: `invalid_input` (bad address, nothing to
    change), `not_running` (no signer runs), `vote_failed` (no majority within `wait`).
    """
    if not Web3.is_address(address):
        raise NetworkError(f"{address!r} is not an Ethereum address", code="invalid_input")
    target = Web3.to_checksum_address(address)
    net = Network.load(directory)
    current = signers(directory)
    if current is None:
        raise NetworkError("no node is running (`heitje network up`)", code="not_running")
    if (target in current) == authorize:
        state = "already" if authorize else "not"
        raise NetworkError(f"{target} is {state} a signer", code="invalid_input")
    voters = []
    for node in net.nodes:
        if node.address in current and node_pid(net, node) is not None:
            _rpc(node.rpc_url, "clique_propose", [target, authorize])
            voters.append(node.index)
    if not voters:
        raise NetworkError("no signer is running", code="not_running")
    result: dict[str, Any] = {
        "address": target,
        "authorize": authorize,
        "voters": voters,
        "signers": current,
    }
    if wait <= 0:
        return result
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        now = signers(directory) or []
        if (target in now) == authorize:
            for node in net.nodes:
                if node_pid(net, node) is not None:
                    _try_rpc(node.rpc_url, "clique_discard", [target])
            result["signers"] = now
            return result
        time.sleep(0.2)
    raise NetworkError(
        f"votes cast by nodes {', '.join(map(str, voters))} but the signer set did not change "
        f"within {wait:.0f}s (more than half of the {len(current)} signers must vote)",
        code="vote_failed",
    )


def node_summary(node: NodeSpec) -> dict[str, Any]:
    """A node's static description (for `heitje network init` / `add-node` output)."""
    data = asdict(node)
    data["name"] = node.name
    data["rpc_url"] = node.rpc_url
    return data
