"""The permissioned network (`heitje network`): a real 3-validator geth Clique network on
loopback, and the faults it must survive. Needs geth 1.13.15 from `make network-setup`; the
tests that run geth are skipped without it (the `init` tests need no geth)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_typing import HexStr
from web3 import Web3
from web3.types import RPCEndpoint, Wei

from node.keys import SERVICE_ROLES, load_key, write_key
from node.network import (
    GETH_VERSION,
    REPO_ROOT,
    Network,
    add_node,
    down,
    geth_version,
    init_network,
    kill,
    propose,
    signers,
    status,
    up,
)
from node.signer import Signer
from node.token import connect

pytestmark = pytest.mark.network

GETH = REPO_ROOT / "tools" / "geth" / "bin" / "geth"
needs_geth = pytest.mark.skipif(
    not GETH.exists() or geth_version(GETH) != GETH_VERSION,
    reason=f"geth {GETH_VERSION} is not built in tools/geth/bin: run `make network-setup`",
)

CONFIRMATIONS = 2
"""Blocks on top of a receipt's block before the test calls the transaction confirmed (Clique
may replace the newest block or two when an out-of-turn signer was faster)."""


def heitje(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m heitje ARGS` without the caller's HEITJE_* and GETH_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEITJE_", "GETH_"))}
    env.update(COLUMNS="200", NO_COLOR="1", TERM="dumb", PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "heitje", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `condition()` until it returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def head(url: str) -> tuple[int, str]:
    """(number, hash) of the head block at `url`."""
    block = connect(url).eth.get_block("latest")
    return int(block["number"]), "0x" + bytes(block["hash"]).hex()


def running_heads(net: Network) -> dict[int, tuple[int, str]]:
    """(number, hash) of the head of every running node."""
    return {
        n["node"]: (n["block"], n["hash"])
        for n in status(net.directory)["nodes"]
        if n["running"] and n["block"] is not None
    }


def all_at_the_same_head(net: Network, nodes: set[int]) -> tuple[int, str] | None:
    heads = running_heads(net)
    if set(heads) >= nodes and len({heads[i] for i in nodes}) == 1:
        return heads[min(nodes)]
    return None


# --- init (no geth needed) -----------------------------------------------------------------------


def test_init_writes_keys_genesis_and_peers(tmp_path: Path) -> None:
    net = init_network(tmp_path / "net", 3)
    directory = net.directory
    assert [n.index for n in net.nodes] == [1, 2, 3]
    ports = [p for n in net.nodes for p in (n.p2p_port, n.http_port, n.authrpc_port)]
    assert len(set(ports)) == 9

    genesis = json.loads((directory / "genesis.json").read_text())
    config = genesis["config"]
    assert config["chainId"] == 46_401 and config["londonBlock"] == 0
    assert config["clique"]["period"] == 1
    assert "terminalTotalDifficulty" not in config  # no merge: Clique keeps sealing
    assert int(genesis["gasLimit"], 16) == 30_000_000
    extra = bytes.fromhex(genesis["extraData"][2:])
    sealers = [Web3.to_checksum_address(extra[i : i + 20]) for i in range(32, len(extra) - 65, 20)]
    assert sealers == sorted((n.address for n in net.nodes), key=lambda a: int(a, 16))

    for role in SERVICE_ROLES:
        key_file = directory / "keys" / f"{role}.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        address = load_key(key_file).address
        assert net.service_accounts[role] == address
        assert int(genesis["alloc"][address[2:].lower()]["balance"], 16) >= 10**24

    for node in net.nodes:
        datadir = directory / node.name
        secret_files = [
            datadir / "password",
            datadir / "geth" / "nodekey",
            *(datadir / "keystore").iterdir(),
        ]
        for path in secret_files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        toml = (datadir / "config.toml").read_text()
        assert f'ListenAddr = "127.0.0.1:{node.p2p_port}"' in toml
        for other in net.nodes:
            assert (other.enode in toml) == (other.index != node.index)

    passwords = {(directory / n.name / "password").read_text() for n in net.nodes}
    assert len(passwords) == 3 and all(len(p.strip()) >= 40 for p in passwords)

    # geth's keystore format: the password file opens the signer key (shown for one node)
    first = net.nodes[0]
    keystore = json.loads(next((directory / "node-1" / "keystore").iterdir()).read_text())
    password = (directory / "node-1" / "password").read_text().strip()
    assert Account.from_key(Account.decrypt(keystore, password)).address == first.address


def test_init_keeps_service_keys_already_there(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    existing = Account.create()
    write_key(directory / "keys" / "minter.key", existing.key.hex())
    net = init_network(directory, 1)
    assert net.service_accounts["minter"] == existing.address
    genesis = json.loads((directory / "genesis.json").read_text())
    assert existing.address[2:].lower() in genesis["alloc"]


def test_init_refuses_a_directory_that_holds_a_network(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    first = heitje("network", "init", "--dir", str(directory), "--validators", "1")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["format"] == "heitje-network/1"
    before = (directory / "network.json").read_text()

    again = heitje("network", "init", "--dir", str(directory))
    assert again.returncode == 2
    assert again.stderr.splitlines() == [f"heitje: {directory} already holds a network"]
    assert (directory / "network.json").read_text() == before

    none = heitje("network", "init", "--dir", str(tmp_path / "other"), "--validators", "0")
    assert none.returncode == 2 and len(none.stderr.splitlines()) == 1


# --- a running network ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """Three validators, period 1 s, running for the whole module; stopped at the end."""
    if not GETH.exists() or geth_version(GETH) != GETH_VERSION:
        pytest.skip(f"geth {GETH_VERSION} is not built in tools/geth/bin: run `make network-setup`")
    net = init_network(tmp_path_factory.mktemp("network") / "net", 3, period=1)
    try:
        up(net.directory)
        yield net
    finally:
        down(net.directory, grace=10)


@pytest.fixture
def all_up(network: Network) -> Network:
    """The module's network with every node running (a test may have stopped one)."""
    up(network.directory)
    return Network.load(network.directory)


@needs_geth
def test_status_json_reports_every_node(all_up: Network) -> None:
    result = heitje("network", "status", "--dir", str(all_up.directory), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["chain_id"] == 46_401
    assert sorted(report["signers"]) == sorted(n.address for n in all_up.nodes)
    for entry, node in zip(report["nodes"], all_up.nodes, strict=True):
        assert entry["rpc_url"] == node.rpc_url
        assert entry["running"] is True and entry["signer"] is True
        assert entry["peers"] >= 1 and entry["block"] >= 1
        assert entry["hash"].startswith("0x") and len(entry["hash"]) == 66


@needs_geth
def test_up_refuses_a_taken_port(all_up: Network) -> None:
    down(all_up.directory, 3)
    node = all_up.node(3)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", node.http_port))
        blocker.listen()
        result = heitje("network", "up", "--dir", str(all_up.directory), "--node", "3")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"heitje: port {node.http_port} (http of node-3) is taken on 127.0.0.1"
    ]


@needs_geth
def test_blocks_keep_coming_with_one_validator_stopped(all_up: Network) -> None:
    assert [n.name for n in down(all_up.directory, 3)] == ["node-3"]
    url = all_up.node(1).rpc_url
    start, _ = head(url)
    wait_for(lambda: head(url)[0] >= start + 5, 30, "5 blocks sealed by 2 of 3 signers")
    wait_for(lambda: all_at_the_same_head(all_up, {1, 2}), 20, "nodes 1 and 2 to agree")
    stopped = status(all_up.directory)["nodes"][2]
    assert stopped["running"] is False and stopped["signer"] is True  # down, still a signer


@needs_geth
def test_a_restarted_validator_catches_up_to_the_same_head(all_up: Network) -> None:
    down(all_up.directory, 3)
    url = all_up.node(1).rpc_url
    start, _ = head(url)
    wait_for(lambda: head(url)[0] >= start + 5, 30, "blocks while node 3 is down")
    behind = head(url)[0]

    assert [n.name for n in up(all_up.directory, 3)] == ["node-3"]
    number, block_hash = wait_for(
        lambda: all_at_the_same_head(all_up, {1, 2, 3}), 60, "node 3 to reach the others' head"
    )
    assert number > behind
    node3 = connect(all_up.node(3).rpc_url)
    assert "0x" + bytes(node3.eth.get_block(number)["hash"]).hex() == block_hash


@needs_geth
def test_kill_9_while_transactions_flow_loses_no_confirmed_transaction(
    all_up: Network, tmp_path: Path
) -> None:
    url = all_up.node(1).rpc_url
    w3 = connect(url)
    relayer = load_key(all_up.directory / "keys" / "relayer.key")
    signer = Signer(w3, relayer, tmp_path / "nonces.sqlite")
    recipient = Account.create().address
    sent: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def flow() -> None:
        try:
            while not stop.is_set():
                sent.append(signer.send({"to": recipient, "value": Wei(1), "gas": 21_000}).tx_hash)
                time.sleep(0.05)
        except BaseException as e:
            errors.append(e)

    sender = threading.Thread(target=flow)
    sender.start()
    try:
        time.sleep(3)
        kill(all_up.directory, 2)  # a signer dies mid-flow: no shutdown, no flush
        time.sleep(4)
    finally:
        stop.set()
        sender.join()
    assert not errors, errors
    assert len(sent) >= 20

    # every transaction is mined; remember where, once it is CONFIRMATIONS blocks deep
    def receipts() -> dict[str, tuple[int, str]] | None:
        found = {}
        for tx_hash in sent:
            try:
                r = w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except Exception:
                return None
            assert r["status"] == 1
            found[tx_hash] = (int(r["blockNumber"]), "0x" + bytes(r["blockHash"]).hex())
        return found

    wait_for(receipts, 60, "every transaction to be mined")
    last = max(n for n, _ in (receipts() or {}).values())
    wait_for(lambda: head(url)[0] >= last + CONFIRMATIONS, 30, "confirmations")
    confirmed = receipts()
    assert confirmed is not None

    # a few blocks later, and on every node (node 2 restarted after the crash), nothing moved
    assert up(all_up.directory, 2)
    wait_for(lambda: all_at_the_same_head(all_up, {1, 2, 3}), 60, "node 2 to catch up")
    wait_for(lambda: head(url)[0] >= last + 5, 30, "more blocks")
    for node in all_up.nodes:
        other = connect(node.rpc_url)
        for tx_hash, (number, block_hash) in confirmed.items():
            r = other.eth.get_transaction_receipt(HexStr(tx_hash))
            assert (int(r["blockNumber"]), "0x" + bytes(r["blockHash"]).hex()) == (
                number,
                block_hash,
            ), f"{tx_hash} moved on {node.name}"
            canonical = other.eth.get_block(number)["hash"]
            assert "0x" + bytes(canonical).hex() == block_hash
        assert other.eth.get_balance(recipient) == len(sent)


@needs_geth
def test_a_fourth_validator_is_voted_in_and_then_seals(all_up: Network) -> None:
    new = add_node(all_up.directory)
    assert new.index == 4
    assert [n.name for n in up(all_up.directory, 4)] == ["node-4"]
    assert new.address not in (signers(all_up.directory) or [])

    result = heitje(
        "network", "propose", "--dir", str(all_up.directory), "--add", new.address, "--wait", "60"
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["voters"] == [1, 2, 3]
    assert new.address in outcome["signers"] and len(outcome["signers"]) == 4

    w3 = connect(all_up.node(1).rpc_url)
    start = int(w3.eth.block_number)

    def sealed_by_node_4() -> int | None:
        for number in range(start + 1, int(w3.eth.block_number) + 1):
            reply = w3.provider.make_request(RPCEndpoint("clique_getSigner"), [hex(number)])
            sealer = str(reply["result"])
            if Web3.to_checksum_address(sealer) == new.address:
                return number
        return None

    number = wait_for(sealed_by_node_4, 30, "a block sealed by node 4", interval=0.5)
    report = status(all_up.directory)
    assert report["nodes"][3]["signer"] is True and report["nodes"][3]["running"] is True
    assert number > start

    # voting it out again works the same way (and leaves the module's network as it was)
    gone = propose(all_up.directory, new.address, authorize=False, wait=60)
    assert new.address not in gone["signers"] and len(gone["signers"]) == 3
    down(all_up.directory, 4)
