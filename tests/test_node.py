"""node/: the embedded chain persists its state, the signer's journal survives restarts, and
reverts decode to stable codes. Real anvil processes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from heitje.errors import ChainError
from node.anvil import Anvil
from node.contract import AccountKind, decode_revert, task_ref
from node.keys import service_key
from node.signer import Signer
from node.token import Token, connect
from scripts.deploy import deploy, ensure_dev_keys, open_reward_period


def test_chain_state_persists_across_restarts(tmp_path: Path) -> None:
    citizen = Account.create()
    with Anvil(tmp_path) as chain:
        w3 = connect(chain.rpc_url)
        assert w3.eth.chain_id == 46_400
        ensure_dev_keys(tmp_path)
        manifest = deploy(w3, tmp_path)
        open_reward_period(w3, tmp_path, budget=10**6, cap_per_citizen=10**5)
        token = Token(w3, manifest.token)
        registrar = Signer(
            w3, service_key(tmp_path / "keys", "registrar"), tmp_path / "nonces.sqlite"
        )
        minter = Signer(w3, service_key(tmp_path / "keys", "minter"), tmp_path / "nonces.sqlite")
        registrar.transact(token.register_account_tx(citizen.address, AccountKind.CITIZEN))
        minter.transact(token.mint_reward_tx(citizen.address, 1250, task_ref("t-1")))
        head = w3.eth.block_number
        process = chain.process
    assert process is not None and process.poll() is not None  # stopped, nothing left running
    with Anvil(tmp_path) as chain:  # same data dir: same chain, same state
        w3 = connect(chain.rpc_url)
        token = Token(w3, manifest.token)
        assert w3.eth.block_number == head
        assert token.balance_of(citizen.address) == 1250
        assert token.account_kind(citizen.address) == AccountKind.CITIZEN
        assert token.is_task_rewarded(task_ref("t-1"))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Web3, Token]]:
    """One chain with the token for the module's tests; each test signs with a nonce journal
    of its own (`tmp_path`) and fresh accounts, so they do not depend on each other."""
    data_dir = tmp_path_factory.mktemp("deployed")
    with Anvil(data_dir) as chain:
        w3 = connect(chain.rpc_url)
        ensure_dev_keys(data_dir)
        manifest = deploy(w3, data_dir)
        open_reward_period(w3, data_dir, budget=10**6, cap_per_citizen=10**5)
        yield data_dir, w3, Token(w3, manifest.token)


def test_signed_but_unsent_transaction_is_rebroadcast_once(
    deployed: tuple[Path, Web3, Token], tmp_path: Path
) -> None:
    data_dir, w3, token = deployed
    journal = tmp_path / "nonces.sqlite"
    citizen = Account.create()
    key = service_key(data_dir / "keys", "registrar")
    first = Signer(w3, key, journal)

    class Crash(Exception):
        pass

    def crash(_sent: object) -> None:
        raise Crash  # the process "dies" after journaling, before broadcast

    with pytest.raises(Crash):
        first.send(token.register_account_tx(citizen.address, AccountKind.CITIZEN), on_signed=crash)
    assert token.account_kind(citizen.address) == AccountKind.NONE
    nonce_before = w3.eth.get_transaction_count(key.address)
    restarted = Signer(w3, key, journal)
    redone = restarted.recover()
    assert len(redone) == 1
    restarted.wait(redone[0])
    assert token.account_kind(citizen.address) == AccountKind.CITIZEN
    assert w3.eth.get_transaction_count(key.address) == nonce_before + 1
    assert restarted.recover() == []  # nothing left to redo
    # The next transaction takes the next nonce, not the journaled one again.
    shop = Account.create()
    receipt = restarted.transact(token.register_account_tx(shop.address, AccountKind.SHOP))
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["nonce"] == nonce_before + 1
    rows = (
        sqlite3.connect(journal)
        .execute("SELECT nonce, status FROM journal WHERE address=? ORDER BY nonce", (key.address,))
        .fetchall()
    )
    assert [status for _, status in rows] == ["confirmed", "confirmed"]


def test_reverts_decode_to_stable_codes(deployed: tuple[Path, Web3, Token], tmp_path: Path) -> None:
    data_dir, w3, token = deployed
    minter = Signer(w3, service_key(data_dir / "keys", "minter"), tmp_path / "nonces.sqlite")
    stranger = Account.create()
    with pytest.raises(ChainError) as e:
        minter.send(token.mint_reward_tx(stranger.address, 100, task_ref("x")))
    assert e.value.code == "not_a_citizen"
    registrar = Signer(w3, service_key(data_dir / "keys", "registrar"), tmp_path / "nonces.sqlite")
    with pytest.raises(ChainError) as e:  # the registrar is not a minter
        registrar.send(token.mint_reward_tx(stranger.address, 100, task_ref("x")))
    assert e.value.code == "missing_role"
    assert decode_revert("0xdeadbeef").code == "chain_reverted"
    assert decode_revert(None).code == "chain_reverted"


def test_roles_are_on_separate_keys(deployed: tuple[Path, Web3, Token]) -> None:
    data_dir, w3, token = deployed
    roles = {
        r: service_key(data_dir / "keys", r).address
        for r in ("admin", "minter", "registrar", "pauser", "relayer", "settler")
    }
    assert len(set(roles.values())) == 6
    has = token.contract.functions.hasRole
    for role, holder in (
        ("MINTER_ROLE", "minter"),
        ("REGISTRAR_ROLE", "registrar"),
        ("PAUSER_ROLE", "pauser"),
        ("SETTLER_ROLE", "settler"),
    ):
        role_id = w3.keccak(text=role)
        assert has(role_id, roles[holder]).call()
        for other in set(roles) - {holder}:
            assert not has(role_id, roles[other]).call()
    assert has(b"\x00" * 32, roles["admin"]).call()
    assert not has(b"\x00" * 32, roles["minter"]).call()
    assert token.contract.functions.defaultAdminDelay().call() == 2 * 24 * 3600
    for key_file in (data_dir / "keys").glob("*.key"):
        assert key_file.stat().st_mode & 0o077 == 0  # owner only
