"""The transaction manager (`node.signer.Signer`) under faults, against a real anvil: the node
refuses or loses a broadcast, the chain reorganises, blocks come slowly. Faults come from the
project's own JSON-RPC proxy (`scripts.faults`), which stands between the signer and anvil.

Each test registers fresh accounts with the registrar key, so the expected outcome is worked
out from the registry: an account is registered exactly when its transaction confirmed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.types import RPCEndpoint

from heitje.datadir import DataDir
from heitje.errors import ChainError
from node.anvil import Anvil
from node.contract import AccountKind, task_ref
from node.journal import GAS_BUMP_DEN, GAS_BUMP_NUM, REBROADCAST_AFTER
from node.keys import service_key
from node.signer import Signer, journal_fate
from node.token import Token, connect
from scripts.deploy import deploy, ensure_dev_keys, open_reward_period
from scripts.faults import FaultProxy, Faults
from tests.conftest import poll


@dataclass
class Chain:
    data_dir: Path
    w3: Web3
    token: Token
    url: str

    def rpc(self, method: str, params: list[Any]) -> Any:
        reply = self.w3.provider.make_request(RPCEndpoint(method), params)
        assert "error" not in reply, reply
        return reply["result"]

    def signer(
        self,
        url: str | None = None,
        confirmations: int = 0,
        role: str = "registrar",
        expire_after: float = 0.0,
    ) -> Signer:
        w3 = connect(url or self.url)
        paths = DataDir(self.data_dir)
        key = service_key(paths.keys, role)
        return Signer(
            w3, key, paths.nonce_journal, confirmations=confirmations, expire_after=expire_after
        )

    def register_tx(self) -> tuple[str, Any]:
        citizen = Account.create().address
        return citizen, self.token.register_account_tx(citizen, AccountKind.CITIZEN)

    def registered(self, address: str) -> bool:
        return self.token.account_kind(address) == AccountKind.CITIZEN


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    data_dir = tmp_path_factory.mktemp("txm")
    with Anvil(data_dir) as anvil:
        w3 = connect(anvil.rpc_url)
        ensure_dev_keys(data_dir)
        manifest = deploy(w3, data_dir)
        open_reward_period(w3, data_dir, budget=10**6, cap_per_citizen=10**5)
        yield Chain(data_dir, w3, Token(w3, manifest.token), anvil.rpc_url)


@pytest.fixture
def proxy(chain: Chain) -> Iterator[FaultProxy]:
    with FaultProxy(chain.url, Faults()) as p:
        yield p


def test_a_refused_broadcast_is_sent_again_until_mined(chain: Chain, proxy: FaultProxy) -> None:
    """The defect: a refused broadcast stranded the transaction (status dropped, never sent)."""
    proxy.faults.refuse = 1
    signer = chain.signer(proxy.url)
    citizen, tx = chain.register_tx()
    sent = signer.send(tx)  # the node refused it: kept, not raised
    assert proxy.faults.fired["refuse"] == 1
    assert not chain.registered(citizen)
    assert signer.fate(sent.tx_hash) == "signed"
    assert signer.low_funds  # insufficient funds is what the node said
    receipt = poll(lambda: signer.outcome(sent.tx_hash), "the re-sent transaction", 30)
    assert receipt["status"] == 1
    assert chain.registered(citizen)
    assert signer.fate(sent.tx_hash) == "confirmed"
    assert not signer.low_funds


def test_a_lost_transaction_is_broadcast_again(chain: Chain, proxy: FaultProxy) -> None:
    proxy.faults.drop = 1
    signer = chain.signer(proxy.url)
    citizen, tx = chain.register_tx()
    sent = signer.send(tx)
    assert proxy.faults.dropped == [sent.tx_hash]
    assert signer.fate(sent.tx_hash) == "sent"  # the node said yes, and lost it
    signer.wait(sent.tx_hash, timeout=30)
    assert chain.registered(citizen)


def test_the_next_send_after_a_lost_one_does_not_skip_past_it(
    chain: Chain, proxy: FaultProxy
) -> None:
    """A lost transaction must not jam the ones after it: both end up mined, in nonce order."""
    proxy.faults.drop = 1
    signer = chain.signer(proxy.url)
    first, tx1 = chain.register_tx()
    second, tx2 = chain.register_tx()
    a = signer.send(tx1)
    b = signer.send(tx2)
    assert b.nonce == a.nonce + 1
    signer.wait(b.tx_hash, timeout=30)
    signer.wait(a.tx_hash, timeout=30)
    assert chain.registered(first) and chain.registered(second)


def test_a_transaction_counts_only_at_the_confirmation_depth(chain: Chain) -> None:
    signer = chain.signer(confirmations=2)
    citizen, tx = chain.register_tx()
    sent = signer.send(tx)
    poll(lambda: chain.registered(citizen), "the block")
    assert signer.status(sent.tx_hash).state == "mined"
    assert signer.outcome(sent.tx_hash) is None
    chain.rpc("evm_mine", [])
    assert signer.status(sent.tx_hash).state == "mined"  # one block on top: not yet
    chain.rpc("evm_mine", [])
    assert signer.status(sent.tx_hash).state == "confirmed"  # two blocks on top
    assert journal_fate(DataDir(chain.data_dir).nonce_journal, sent.tx_hash) == "confirmed"


def test_a_transaction_that_left_the_chain_is_sent_again(chain: Chain) -> None:
    """The defect: after a reorg the journal still said mined, the next nonce left a gap and
    later transactions queued behind it."""
    signer = chain.signer(confirmations=1)
    snapshot = chain.rpc("evm_snapshot", [])
    citizen, tx = chain.register_tx()
    sent = signer.send(tx)
    poll(lambda: chain.registered(citizen), "the block")
    assert signer.status(sent.tx_hash).state == "mined"
    assert chain.rpc("evm_revert", [snapshot]) is True  # the block is gone, and the tx with it
    assert not chain.registered(citizen)
    status = signer.status(sent.tx_hash)  # noticed, and broadcast again at once, same nonce
    assert status.state in ("sent", "mined")
    poll(lambda: chain.registered(citizen), "the transaction back on chain (automine)")
    later, tx2 = chain.register_tx()
    after = signer.send(tx2)
    assert after.nonce == sent.nonce + 1  # no gap
    chain.rpc("evm_mine", [])
    chain.rpc("evm_mine", [])
    signer.wait(sent.tx_hash, timeout=30)
    signer.wait(after.tx_hash, timeout=30)
    assert chain.registered(citizen) and chain.registered(later)


def test_a_revert_on_chain_is_final_with_its_decoded_reason(chain: Chain) -> None:
    """Two mints of one task reference sent back to back: both pass the simulation, the
    second reverts in its block; its state is final `reverted` with the contract's reason."""
    citizen, tx = chain.register_tx()
    chain.signer().transact(tx)
    signer = chain.signer(role="minter")
    mint = chain.token.mint_reward_tx(citizen, 100, task_ref(f"revert-{citizen}"))
    chain.rpc("evm_setAutomine", [False])
    try:
        first = signer.send(mint)
        second = signer.send(mint)
        chain.rpc("evm_mine", [])
    finally:
        chain.rpc("evm_setAutomine", [True])
    assert signer.wait(first.tx_hash, timeout=30)["status"] == 1
    with pytest.raises(ChainError) as reverted:
        signer.wait(second.tx_hash, timeout=30)
    assert reverted.value.code == "tx_reverted"
    status = signer.status(second.tx_hash)
    assert status.state == "reverted"
    assert status.error is not None and status.error.startswith("task_already_rewarded")


def test_a_duplicated_broadcast_is_harmless(chain: Chain, proxy: FaultProxy) -> None:
    proxy.faults.duplicate = 1
    signer = chain.signer(proxy.url)
    citizen, tx = chain.register_tx()
    sent = signer.send(tx)
    assert proxy.faults.fired["duplicate"] == 1
    signer.wait(sent.tx_hash, timeout=30)
    assert chain.registered(citizen)


def test_an_underpriced_answer_signs_again_with_more_gas(chain: Chain, proxy: FaultProxy) -> None:
    proxy.faults.refuse = 1
    proxy.faults.refuse_message = "replacement transaction underpriced"
    signer = chain.signer(proxy.url)
    citizen, tx = chain.register_tx()
    hashes: list[str] = []
    sent = signer.send(tx, on_signed=lambda s: hashes.append(s.tx_hash))
    assert len(hashes) == 2 and hashes[-1] == sent.tx_hash  # told about both signings
    assert signer.fate(hashes[0]) == "replaced"
    first = chain.w3.eth.get_transaction(sent.tx_hash)
    signer.wait(sent.tx_hash, timeout=30)
    assert chain.registered(citizen)
    assert first["nonce"] == sent.nonce


def test_an_underpriced_resend_never_signs_the_same_twin_twice(
    chain: Chain, proxy: FaultProxy
) -> None:
    """The defect (found by the full chaos run): the node held a fee-bumped twin, so sending
    the original again was "underpriced"; the signer bumped the original again to the twin's
    very price, signed the same bytes, and the journal's key refused them: every dispatcher
    round and every API start failed. Now only the dearest open transaction of a nonce is
    bumped, above every price journaled for it."""
    signer = chain.signer(proxy.url)
    citizen, tx = chain.register_tx()
    chain.rpc("evm_setAutomine", [False])
    try:
        sent = signer.send(tx)  # in the node's pool
        proxy.faults.refuse = 3
        proxy.faults.refuse_message = "replacement transaction underpriced"
        for _ in range(3):  # each round: the original is sent again and refused
            time.sleep(REBROADCAST_AFTER + 0.1)
            signer.tick()
        assert proxy.faults.fired["refuse"] == 3
        rows = _nonce_rows(chain, sent.nonce)
        assert len(rows) == 2  # the original and one twin, never the twin again
        (original, p0), (twin, p1) = rows
        assert original == sent.tx_hash and p1 >= p0 * GAS_BUMP_NUM // GAS_BUMP_DEN + 1
        chain.rpc("evm_mine", [])
    finally:
        chain.rpc("evm_setAutomine", [True])
    status = signer.status(sent.tx_hash)
    assert (status.state, status.replaced_by) == ("replaced", twin)
    signer.wait(twin, timeout=30)
    assert chain.registered(citizen)


def _nonce_rows(chain: Chain, nonce: int, purpose: str | None = None) -> list[tuple[str, int]]:
    """(tx hash, gas price) of the journal's transactions with `nonce` and `purpose` (None:
    ordinary ones), oldest first."""
    db = sqlite3.connect(DataDir(chain.data_dir).nonce_journal)
    try:
        rows = db.execute(
            "SELECT tx_hash, params FROM journal WHERE nonce=? AND purpose IS ? "
            "ORDER BY created_at",
            (nonce, purpose),
        ).fetchall()
    finally:
        db.close()
    return [(str(h), int(json.loads(p)["gasPrice"])) for h, p in rows]


def test_a_full_pool_is_a_passing_refusal(chain: Chain, proxy: FaultProxy) -> None:
    """The defect (found by the full chaos run): anvil's "txpool is full" was taken as a
    refusal for good, so the transaction failed and left its nonce empty behind later ones."""
    proxy.faults.refuse = 1
    proxy.faults.refuse_message = "txpool is full"
    signer = chain.signer(proxy.url)
    citizen, tx = chain.register_tx()
    sent = signer.send(tx)
    assert signer.fate(sent.tx_hash) == "signed"  # kept, not failed
    time.sleep(REBROADCAST_AFTER + 0.1)
    signer.wait(sent.tx_hash, timeout=30)  # sent again by tick
    assert chain.registered(citizen)


def test_a_nonce_left_empty_is_filled_so_later_ones_are_mined(
    chain: Chain, proxy: FaultProxy
) -> None:
    """The defect (found by the full chaos run): a transaction the node lost and then refused
    for good left its nonce empty; every later transaction of the key waited for ever."""
    signer = chain.signer(proxy.url)
    lost_citizen, lost_tx = chain.register_tx()
    proxy.faults.drop = 1  # the node never sees it; the signer thinks it was sent
    lost = signer.send(lost_tx)
    later_citizen, later_tx = chain.register_tx()
    later = signer.send(later_tx)  # nonce + 1: queued by the node behind the gap
    assert later.nonce == lost.nonce + 1
    proxy.faults.refuse = 1
    proxy.faults.refuse_message = "invalid transaction: some lasting reason"
    time.sleep(REBROADCAST_AFTER + 0.1)
    signer.tick()  # the lost one is sent again and refused for good; its nonce is filled
    assert signer.fate(lost.tx_hash) == "failed"
    signer.wait(later.tx_hash, timeout=30)
    assert chain.registered(later_citizen) and not chain.registered(lost_citizen)
    filler = [h for h, _ in _nonce_rows(chain, lost.nonce, purpose="cancel")]
    assert len(filler) == 1 and signer.fate(filler[0]) == "confirmed"


def test_a_transaction_not_mined_in_time_expires_and_frees_its_nonce(chain: Chain) -> None:
    """The defect: a transaction that never got mined (too low a price, a node that keeps it
    without mining) stayed open for ever and every later nonce of the key waited behind it.
    After `expire_after` a cancel takes its nonce; it ends `expired`, never mined."""
    signer = chain.signer(expire_after=0.5)
    citizen, tx = chain.register_tx()
    chain.rpc("evm_setAutomine", [False])
    try:
        sent = signer.send(tx)
        assert signer.status(sent.tx_hash).state == "sent"  # in the pool, no block
        time.sleep(0.6)
        assert signer.status(sent.tx_hash).state == "sent"  # expired: the cancel is sent
        chain.rpc("evm_mine", [])  # the cancel (higher price) took the nonce in the pool
        status = signer.status(sent.tx_hash)
        assert status.state == "expired"
        assert status.final and status.replaced_by is None
        assert journal_fate(DataDir(chain.data_dir).nonce_journal, sent.tx_hash) == "expired"
        with pytest.raises(ChainError) as refused:
            signer.wait(sent.tx_hash, timeout=5)
        assert refused.value.code == "tx_expired"
        assert not chain.registered(citizen)
        nonce = chain.w3.eth.get_transaction_count(signer.address, "latest")
        assert nonce == sent.nonce + 1  # the cancel used it
    finally:
        chain.rpc("evm_setAutomine", [True])
    again = signer.send(tx)  # what it was for can be sent again: a fresh nonce
    assert again.nonce == sent.nonce + 1
    signer.wait(again.tx_hash, timeout=30)
    assert chain.registered(citizen)


def test_the_gas_limit_covers_the_transaction_and_a_revert_comes_back_with_its_reason(
    chain: Chain,
) -> None:
    """`Signer.gas_limit` (eth_createAccessList): the limit is at least what the transaction
    uses when mined (without the list), and below what the old rule gave (the lowest passing
    limit plus a fifth and 10,000: a full batch must leave room for four in a 30M-gas block);
    a call that would revert is refused before anything is signed, with the contract's
    reason."""
    citizen, tx = chain.register_tx()
    chain.signer().transact(tx)
    signer = chain.signer(role="minter")
    mint = chain.token.mint_reward_tx(citizen, 100, task_ref(f"gas-{citizen}"))
    limit = signer.gas_limit(mint)
    sent = signer.send(mint)
    receipt = signer.wait(sent.tx_hash, timeout=30)
    assert receipt["status"] == 1
    used = int(receipt["gasUsed"])
    assert used <= limit < used * 12 // 10 + 10_000
    journal = sqlite3.connect(DataDir(chain.data_dir).nonce_journal)
    open_before = journal.execute("SELECT COUNT(*) FROM journal WHERE status='signed'").fetchone()
    with pytest.raises(ChainError) as refused:
        signer.send(mint)  # the same task reference again
    assert refused.value.code == "task_already_rewarded"
    assert (
        journal.execute("SELECT COUNT(*) FROM journal WHERE status='signed'").fetchone()
        == open_before
    )  # nothing signed for it


def test_statuses_looks_at_several_transactions_at_once(chain: Chain) -> None:
    """`Signer.statuses`: the state of each hash asked, in order, from one look; an unknown
    hash is `unknown`; a mined one at depth 0 is `confirmed`."""
    signer = chain.signer()
    sent = [signer.send(chain.register_tx()[1]) for _ in range(3)]
    for s in sent:
        signer.wait(s.tx_hash, timeout=30)
    unknown = "0x" + "ab" * 32
    looked = signer.statuses([unknown, *(s.tx_hash for s in sent)])
    assert list(looked) == [unknown, *(s.tx_hash for s in sent)]
    assert looked[unknown].state == "unknown"
    assert [looked[s.tx_hash].state for s in sent] == ["confirmed"] * 3
