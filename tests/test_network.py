"""The permissioned network (`heitje network`): a real 3-validator geth Clique network on
loopback, the faults it must survive, and the product on it: the product's indexer keeps the
mirror equal to the chain while a validator is killed, and a shared scenario year replayed by
`heitje demo --rpc-url` gives the same report as on anvil. Needs geth 1.13.15 from `make
network-setup`; the tests that run geth are skipped without it (the `init` tests and the demo's
refusals need no geth)."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import Web3
from web3.types import RPCEndpoint, TxParams, Wei

from domain.settlement import read_pain001
from heitje.money import BaseUnits, parse_heit
from indexer.mirror import Mirror
from node.contract import AccountKind
from node.keys import SERVICE_ROLES, load_key, service_key, write_key
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
from node.token import Token, connect
from scripts.deploy import deploy, open_reward_period
from scripts.stack import HEITJE_COMMAND, start_indexer
from tests.conftest import cli_env, run_heitje, shared_scenario
from tests.test_replay import _check

pytestmark = pytest.mark.network

GETH = REPO_ROOT / "tools" / "geth" / "bin" / "geth"
needs_geth = pytest.mark.skipif(
    not GETH.exists() or geth_version(GETH) != GETH_VERSION,
    reason=f"geth {GETH_VERSION} is not built in tools/geth/bin: run `make network-setup`",
)

CONFIRMATIONS = 2
"""Blocks on top of a receipt's block before the test calls the transaction confirmed (Clique
may replace the newest block or two when an out-of-turn signer was faster)."""


def heitje(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """The real `heitje` command without the caller's HEITJE_* and GETH_* settings (the one
    runner of the tests, `tests.conftest.run_heitje`)."""
    return run_heitje(*args, timeout=timeout, **env)


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


def test_demo_on_an_external_chain_needs_the_chains_keys(tmp_path: Path) -> None:
    empty = tmp_path / "keys"
    empty.mkdir()
    data = tmp_path / "data"
    result = heitje(
        "demo", "--rpc-url", "http://127.0.0.1:9", "--keys-dir", str(empty), "--data-dir", str(data)
    )
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert f"heitje: {empty} lacks admin.key" in result.stderr and "Traceback" not in result.stderr

    alone = heitje("demo", "--keys-dir", str(empty), "--data-dir", str(data))
    assert alone.returncode == 2
    assert alone.stderr.splitlines() == [
        "heitje: --keys-dir needs --rpc-url (the embedded chain uses its own dev keys)"
    ]


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


@dataclass
class Deployment:
    """The token deployed on the network from a data dir holding the network's service keys,
    with citizens and a shop registered and the citizens rewarded (for the fault tests)."""

    data_dir: Path
    token: Token
    minter: Signer
    relayer: Signer
    citizens: list[LocalAccount]
    shop: LocalAccount


def deploy_on(net: Network, data_dir: Path, citizens: int = 3) -> Deployment:
    """Deploy the token with the network's service keys (the product's own `deploy`), open a
    reward period, register `citizens` citizens and a shop and reward each citizen 100 HEIT."""
    for role in SERVICE_ROLES:
        write_key(
            data_dir / "keys" / f"{role}.key", service_key(net.directory / "keys", role).key.hex()
        )
    w3 = connect(net.node(1).rpc_url)
    manifest = deploy(w3, data_dir)
    open_reward_period(w3, data_dir, budget=10**12, cap_per_citizen=10**10)
    token = Token(w3, manifest.token)

    def signer(role: str) -> Signer:
        return Signer(w3, service_key(data_dir / "keys", role), data_dir / "nonces.sqlite")

    registrar, minter = signer("registrar"), signer("minter")
    people = [Account.create() for _ in range(citizens)]
    shop = Account.create()
    sent = [
        registrar.send(token.register_account_tx(c.address, AccountKind.CITIZEN)) for c in people
    ]
    sent.append(registrar.send(token.register_account_tx(shop.address, AccountKind.SHOP)))
    for tx in sent:
        registrar.wait(tx.tx_hash)
    for i, citizen in enumerate(people):
        ref = Web3.keccak(text=f"start-{i}")
        minter.transact(token.mint_reward_tx(citizen.address, parse_heit("100.00"), ref))
    return Deployment(data_dir, token, minter, signer("relayer"), people, shop)


def receipt_position(w3: Web3, tx_hash: str) -> tuple[int, str] | None:
    """(block number, block hash) of a mined transaction's receipt; None while not mined."""
    try:
        r = w3.eth.get_transaction_receipt(HexStr(tx_hash))
    except Exception:
        return None
    assert r["status"] == 1, f"{tx_hash} reverted"
    return int(r["blockNumber"]), "0x" + bytes(r["blockHash"]).hex()


def mirror_equals_chain(mirror: Mirror, token: Token, accounts: Sequence[str]) -> list[str]:
    """Differences between the mirror and the chain at the mirror's checkpoint block: the
    checkpoint's hash, the supply, the totals and every balance (the mirror's holders and
    `accounts`). Empty when they agree."""
    checkpoint = mirror.checkpoint()
    assert checkpoint is not None
    block = checkpoint.block_number
    diffs = []
    canonical = "0x" + bytes(token.w3.eth.get_block(block)["hash"]).hex()
    if canonical != checkpoint.block_hash:
        diffs.append(f"checkpoint {block} is {checkpoint.block_hash}, chain has {canonical}")
    for name, on_chain, mirrored in [
        ("supply", token.total_supply(block), mirror.total_supply()),
        ("minted", token.total_minted(block), mirror.total_minted()),
        ("redeemed", token.total_redeemed(block), mirror.total_redeemed()),
    ]:
        if on_chain != mirrored:
            diffs.append(f"{name}: chain {on_chain}, mirror {mirrored}")
    balances = mirror.balances()
    for address in sorted(set(balances) | {Web3.to_checksum_address(a) for a in accounts}):
        on_chain = token.balance_of(address, block)
        mirrored = balances.get(address, BaseUnits(0))
        if on_chain != mirrored:
            diffs.append(f"balance of {address}: chain {on_chain}, mirror {mirrored}")
    return diffs


@needs_geth
def test_kill_9_while_transactions_flow_loses_no_confirmed_transaction(
    all_up: Network, tmp_path: Path
) -> None:
    """Native transfers, reward mints and relayed EIP-3009 payments flow through node 1 while
    node 2 dies with SIGKILL and comes back; the product's indexer follows node 2 (2
    confirmations) all along. No confirmed transaction moves, and the mirror ends equal to the
    chain: every balance and the supply."""
    url = all_up.node(1).rpc_url
    w3 = connect(url)
    d = deploy_on(all_up, tmp_path / "data")
    indexer = start_indexer(d.data_dir, all_up.node(2).rpc_url, confirmations=2, poll=0.1)
    recipient = Account.create().address
    sent: list[str] = []  # native transfers of 1 wei to `recipient`
    token_txs: list[str] = []  # mints and payments
    errors: list[BaseException] = []
    stop = threading.Event()

    def flow() -> None:
        try:
            i = 0
            while not stop.is_set():
                tx: TxParams = {"to": recipient, "value": Wei(1), "gas": 21_000}
                sent.append(d.relayer.send(tx).tx_hash)
                citizen = d.citizens[i % len(d.citizens)]
                ref = Web3.keccak(text=f"flow-{i}")
                mint = d.token.mint_reward_tx(citizen.address, parse_heit("1.00"), ref)
                token_txs.append(d.minter.send(mint).tx_hash)
                auth = d.token.authorize_transfer(citizen, d.shop.address, parse_heit("0.25"))
                pay = d.token.transfer_with_authorization_tx(auth)
                token_txs.append(d.relayer.send(pay).tx_hash)
                i += 1
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
    try:
        assert not errors, errors
        assert len(sent) >= 10

        # every transaction is mined; remember where, once it is CONFIRMATIONS blocks deep
        def receipts() -> dict[str, tuple[int, str]] | None:
            found = {}
            for tx_hash in sent + token_txs:
                position = receipt_position(w3, tx_hash)
                if position is None:
                    return None
                found[tx_hash] = position
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
                assert receipt_position(other, tx_hash) == (number, block_hash), (
                    f"{tx_hash} moved on {node.name}"
                )
                canonical = other.eth.get_block(number)["hash"]
                assert "0x" + bytes(canonical).hex() == block_hash
            assert other.eth.get_balance(recipient) == len(sent)

        # the mirror (the indexer followed node 2 through its crash) equals the chain
        mirror_path = d.data_dir / "mirror.sqlite"
        wait_for(mirror_path.exists, 10, "the mirror file")
        with Mirror(mirror_path) as mirror:
            wait_for(
                lambda: (mirror.checkpoint_block() or 0) >= last, 60, f"the mirror at block {last}"
            )
            assert indexer.alive(), indexer.log_path.read_text()[-2000:]
            accounts = [c.address for c in d.citizens] + [d.shop.address]
            assert mirror_equals_chain(mirror, d.token, accounts) == []
            payments = len(token_txs) // 2
            assert (
                mirror.total_minted()
                == parse_heit("100.00") * len(d.citizens) + parse_heit("1.00") * payments
            )
            assert mirror.balance(d.shop.address) == parse_heit("0.25") * payments
    finally:
        indexer.stop()


@needs_geth
def test_demo_refuses_keys_that_are_not_funded_on_the_network(
    all_up: Network, tmp_path: Path
) -> None:
    strangers = tmp_path / "keys"
    for role in SERVICE_ROLES:
        write_key(strangers / f"{role}.key", Account.create().key.hex())
    data = tmp_path / "data"
    url = all_up.node(1).rpc_url
    result = heitje("demo", "--rpc-url", url, "--keys-dir", str(strangers), "--data-dir", str(data))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"heitje: the service accounts {', '.join(SERVICE_ROLES)} hold no coin on chain "
        f"{all_up.chain_id}: these keys do not belong to this chain (--keys-dir)"
    ]
    assert not data.exists() or not any(data.iterdir())  # a second try may use it


def paid_per_settlement(
    report: dict[str, Any], data_dir: Path, scenario: dict[str, Any]
) -> list[dict[str, int]]:
    """Per settlement file of a demo report: euro cents paid per shop id (from the pain.001)."""
    shop_by_iban = {s["iban"].replace(" ", "").upper(): s["id"] for s in scenario["shops"]}
    return [
        {shop_by_iban[p.creditor_iban]: p.cents for p in read_pain001(data_dir / rel)}
        for rel in report["settlement_files"]
    ]


@needs_geth
@pytest.mark.slow
def test_a_shared_year_replays_on_the_network_as_on_anvil(all_up: Network, tmp_path: Path) -> None:
    """`heitje demo --rpc-url` replays heerlen-wesh-2022 on the 3 validators (service keys from
    the network in HEITJE_NETWORK_DIR, indexer 2 blocks behind) while the same year replays on
    anvil. Both match the expected report (checked as tests/test_replay.py does) and each
    other: balances, totals, refusals (indices and codes), the amount paid to each shop at
    each settlement; both reconcile."""
    path, expected = shared_scenario("heerlen-wesh-2022")
    scenario = json.loads(path.read_text())
    anvil_dir, network_dir = tmp_path / "anvil", tmp_path / "network"
    demo = [*HEITJE_COMMAND, "demo", "--scenario", str(path), "--data-dir"]
    on_anvil = subprocess.Popen(
        [*demo, str(anvil_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=cli_env(),
    )
    try:
        on_network = heitje(
            *demo[3:],
            str(network_dir),
            "--rpc-url",
            all_up.node(1).rpc_url,
            timeout=1800,
            HEITJE_NETWORK_DIR=str(all_up.directory),
        )
        anvil_out, anvil_err = on_anvil.communicate(timeout=900)
    finally:
        if on_anvil.poll() is None:
            on_anvil.terminate()  # the demo stops its chain, API and indexer on SIGTERM
            on_anvil.wait(timeout=60)
    assert on_anvil.returncode == 0, anvil_err[-3000:]
    assert on_network.returncode == 0, on_network.stderr[-3000:]
    assert "indexer 2 blocks behind" in on_network.stderr
    anvil_report, network_report = json.loads(anvil_out), json.loads(on_network.stdout)

    _check(network_report, expected, scenario, network_dir)
    _check(anvil_report, expected, scenario, anvil_dir)
    for key in ("accounts", "minted", "redeemed", "total_supply", "settled_eur", "reconciled"):
        assert network_report[key] == anvil_report[key], key
    for key in ("rejected", "rejected_registrations"):
        codes = [(r.get("index", r.get("id")), r["code"]) for r in network_report[key]]
        assert codes == [(r.get("index", r.get("id")), r["code"]) for r in anvil_report[key]]
    paid = paid_per_settlement(network_report, network_dir, scenario)
    assert paid == paid_per_settlement(anvil_report, anvil_dir, scenario)
    assert len(paid) == len(expected["settlements"])
    manifest = json.loads((network_dir / "deployment.json").read_text())
    assert manifest["chain_id"] == all_up.chain_id
    keys = {r: load_key(network_dir / "keys" / f"{r}.key").address for r in SERVICE_ROLES}
    assert keys == all_up.service_accounts  # the network's funded service keys, copied


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
