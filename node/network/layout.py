"""The network directory: `NetworkError`, `NodeSpec`, `Network` (`network.json`), ports, keys,
the nodes' config.toml, the Clique genesis, `init_network` and `add_node` (layout: the
`node.network` package docstring)."""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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

GAS_LIMIT = 30_000_000
"""Block gas limit of the genesis, kept by the miners (`--miner.gaslimit`)."""

PREFUND_WEI = 10**24
"""Native coin given to each service account in the genesis (1,000,000 coins of 10**18 wei)."""

CLIQUE_EPOCH = 30_000
"""Blocks between Clique checkpoints (pending votes are reset there)."""

FORMAT = "heitje-network/1"
PORT_RANGE = (20_000, 32_000)
"""Ports are picked below Linux's ephemeral range (32768-60999), so outgoing connections of
other programs do not take them between `init` and `up`."""


class NetworkError(HeitjeError, RuntimeError):
    """The network could not be set up, started, stopped or voted on."""

    code = "network_error"


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
    """Create a network of `validators` Clique signers in `directory` (layout: package doc).

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
