"""The indexer: decoding recorded RPC replies, and a real anvil mirrored into real SQLite files.

One anvil (module scope) carries every chain test; each test indexes it into its own mirror
file from the deploy block and compares the mirror with the contract's own reads.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import RPCEndpoint, TxReceipt

from indexer import decoder
from indexer.decoder import (
    AccountRegistered,
    AuthorizationCanceled,
    AuthorizationUsed,
    Redeemed,
    RewardMinted,
    Transfer,
    decode_block,
    decode_log,
    decode_logs,
)
from indexer.errors import ChainUnavailable, DecodeError, MirrorBehind, MirrorMismatch
from indexer.fetcher import Fetcher
from indexer.index import Indexer
from indexer.mirror import Mirror
from indexer.writer import Writer
from node.anvil import Anvil, free_port
from node.contract import AccountKind, load_artifact, task_ref
from node.eip3009 import new_nonce, sign_typed
from node.keys import service_key
from node.signer import Signer
from node.token import Token, connect
from scripts.deploy import deploy, ensure_dev_keys, open_reward_period

RESOURCES = Path(__file__).parent / "resources"
ZERO = "0x" + "00" * 20


def _resource(name: str) -> Any:
    return json.loads((RESOURCES / name).read_text())


# ----- decoder, on replies recorded from anvil (tests/resources/record_rpc_replies.py) -----


def test_decoder_reads_every_recorded_event() -> None:
    logs = _resource("token_logs.json")["reply"]["result"]
    expected = _resource("token_expected.json")
    records = decode_logs(logs, token=expected["token"])
    assert len(records) == len(expected["events"]) == 14
    for record, want in zip(records, expected["events"], strict=True):
        assert type(record).__name__ == want["event"]
        assert (record.tx_hash, record.block_number, record.log_index) == (
            want["tx_hash"], want["block_number"], want["log_index"]
        )  # fmt: skip
        match record:
            case Transfer():
                assert (record.from_address, record.to_address, record.amount) == (
                    Web3.to_checksum_address(want["from_address"]), want["to_address"],
                    want["amount"],
                )  # fmt: skip
            case RewardMinted():
                assert (record.to_address, record.amount, record.task_ref) == (
                    want["to_address"], want["amount"], want["task_ref"]
                )  # fmt: skip
            case Redeemed():
                assert (record.redemption_id, record.shop, record.amount) == (
                    want["redemption_id"], want["shop"], want["amount"]
                )  # fmt: skip
            case AccountRegistered():
                assert record.account == want["account"]
                assert decoder.KIND_NAMES[record.kind] == want["kind"]
            case AuthorizationUsed() | AuthorizationCanceled():
                assert (record.authorizer, record.nonce) == (want["authorizer"], want["nonce"])


def test_decoder_leaves_out_events_the_mirror_does_not_keep() -> None:
    logs = _resource("token_logs.json")["reply"]["result"]
    ignored = [raw for raw in logs if decode_log(raw) is None]
    # four RoleGranted at deployment, then Paused and Unpaused
    role_granted = "0x" + keccak(text="RoleGranted(bytes32,address,address)").hex()
    paused = {"0x" + keccak(text=f"{e}(address)").hex() for e in ("Paused", "Unpaused")}
    assert [raw["topics"][0] for raw in ignored[:4]] == [role_granted] * 4
    assert {raw["topics"][0] for raw in ignored[4:]} == paused
    assert len(ignored) == 6


def test_decoder_reads_recorded_headers_as_one_chain() -> None:
    replies = _resource("token_blocks.json")["reply"]
    blocks = [decode_block(r["result"]) for r in replies]
    for parent, child in itertools.pairwise(blocks):
        assert child.number == parent.number + 1
        assert child.parent_hash == parent.hash
        assert child.timestamp >= parent.timestamp
    by_number = {b.number: b for b in blocks}
    logs = _resource("token_logs.json")["reply"]["result"]
    for record in decode_logs(logs):
        assert by_number[record.block_number].hash == record.block_hash


def test_event_topics_match_the_contract_abi() -> None:
    abi_topics = {}
    for item in load_artifact().abi:
        if item.get("type") == "event" and item["name"] in decoder.TOPICS:
            types = ",".join(i["type"] for i in item["inputs"])
            abi_topics[item["name"]] = "0x" + keccak(text=f"{item['name']}({types})").hex()
    assert abi_topics == decoder.TOPICS


@pytest.mark.parametrize(
    "change",
    [
        {"data": "0x" + "00" * 31},  # truncated amount
        {"topics_drop": 1},  # a missing indexed argument
        {"topic1": "0x" + "ff" * 32},  # not an address
        {"blockNumber": None},
        {"removed": True},
    ],
)
def test_decoder_refuses_malformed_logs(change: dict[str, Any]) -> None:
    logs = _resource("token_logs.json")["reply"]["result"]
    raw = dict(next(r for r in logs if r["topics"][0] == decoder.TOPICS["Transfer"]))
    if "topics_drop" in change:
        raw["topics"] = raw["topics"][: -change.pop("topics_drop")]
    if "topic1" in change:
        raw["topics"] = [raw["topics"][0], change.pop("topic1"), *raw["topics"][2:]]
    raw.update(change)
    with pytest.raises(DecodeError) as caught:
        decode_log(raw)
    assert caught.value.code == "undecodable_log"


def test_decoder_refuses_unknown_kind_and_foreign_logs() -> None:
    logs = _resource("token_logs.json")["reply"]["result"]
    registered = next(r for r in logs if r["topics"][0] == decoder.TOPICS["AccountRegistered"])
    with pytest.raises(DecodeError):
        decode_log({**registered, "data": "0x" + "00" * 31 + "03"})
    with pytest.raises(DecodeError):
        decode_logs([registered], token="0x" + "11" * 20)


# ----- a real chain -----


@dataclass
class Chain:
    """The shared anvil with the token deployed and helpers that make one kind of event each."""

    w3: Web3
    token: Token
    deploy_block: int
    registrar: Signer
    minter: Signer
    relayer: Signer
    accounts: list[str] = field(default_factory=list)
    _tasks: int = 0

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def new_account(self, kind: AccountKind) -> LocalAccount:
        acct: LocalAccount = Account.create()
        self.register(acct.address, kind)
        self.accounts.append(acct.address)
        return acct

    def register(self, address: str, kind: AccountKind) -> TxReceipt:
        return self.registrar.transact(self.token.register_account_tx(address, kind))

    def mint(self, to: LocalAccount, amount: int) -> TxReceipt:
        self._tasks += 1
        ref = task_ref(f"test-indexer-{id(self)}-{self._tasks}")
        return self.minter.transact(self.token.mint_reward_tx(to.address, amount, ref))

    def pay(self, payer: LocalAccount, to: LocalAccount, amount: int) -> TxReceipt:
        auth = self.token.authorize_transfer(payer, to.address, amount)
        return self.relayer.transact(self.token.transfer_with_authorization_tx(auth))

    def redeem(self, shop: LocalAccount, amount: int) -> TxReceipt:
        auth = self.token.authorize_redemption(shop, amount)
        return self.relayer.transact(self.token.redeem_with_authorization_tx(auth))

    def cancel(self, authorizer: LocalAccount) -> TxReceipt:
        nonce = new_nonce()
        sig = sign_typed(
            authorizer, chain_id=self.token.chain_id, token=self.token.address,
            primary_type="CancelAuthorization",
            message={"authorizer": authorizer.address, "nonce": nonce},
        )  # fmt: skip
        fn = self.token.contract.functions.cancelAuthorization(
            authorizer.address, nonce, sig.v, sig.r, sig.s
        )
        return self.relayer.transact(
            {"to": self.token.address, "data": fn._encode_transaction_data()}
        )

    def rpc(self, method: str, params: list[Any]) -> Any:
        reply = self.w3.provider.make_request(RPCEndpoint(method), params)
        assert "error" not in reply, reply
        return reply["result"]

    def indexer(self, path: Path, **options: int) -> Indexer:
        return Indexer(self.w3, self.token.address, path, self.deploy_block, **options)

    def activity(self, rounds: int = 1) -> None:
        """Registrations, mints, payments, refunds, redemptions, a canceled authorization and a
        deregistration: every event the mirror keeps."""
        for _ in range(rounds):
            alice = self.new_account(AccountKind.CITIZEN)
            bob = self.new_account(AccountKind.CITIZEN)
            shop = self.new_account(AccountKind.SHOP)
            self.mint(alice, 1500)
            self.mint(bob, 725)
            self.pay(alice, shop, 450)
            self.pay(bob, shop, 125)
            self.pay(shop, alice, 50)  # refund
            self.redeem(shop, 200)
            self.cancel(alice)
            carol = self.new_account(AccountKind.CITIZEN)
            self.register(carol.address, AccountKind.NONE)  # deregistered, never held HEIT


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    data = tmp_path_factory.mktemp("chain")
    with Anvil(data) as anvil:
        w3 = connect(anvil.rpc_url)
        ensure_dev_keys(data)
        manifest = deploy(w3, data)
        open_reward_period(w3, data, budget=10**12, cap_per_citizen=10**10)

        def signer(role: str) -> Signer:
            return Signer(w3, service_key(data / "keys", role), data / "nonces.sqlite")

        yield Chain(
            w3, Token(w3, manifest.token), manifest.deploy_block,
            signer("registrar"), signer("minter"), signer("relayer"),
        )  # fmt: skip


def assert_mirror_equals_chain(path: Path, chain: Chain) -> None:
    """Every balance, the supply, the totals, every redemption and every registry kind in the
    mirror at its checkpoint equal the contract's reads at that block (the chain head)."""
    with Mirror(path) as mirror:
        checkpoint = mirror.checkpoint()
        assert checkpoint is not None
        block = checkpoint.block_number
        assert block == chain.head()
        header = chain.w3.eth.get_block(block)
        assert checkpoint.block_hash == "0x" + bytes(header["hash"]).hex()
        token = chain.token
        balances: dict[str, int] = {str(a): int(b) for a, b in mirror.balances().items()}
        for address in set(balances) | set(chain.accounts):
            assert mirror.balance(address) == token.balance_of(address, block), address
            assert balances.get(address, 0) == token.balance_of(address, block), address
            assert mirror.account_kind(address) == token.account_kind(address), address
        assert ZERO not in balances
        assert mirror.total_supply() == token.total_supply(block)
        assert mirror.total_minted() == token.total_minted(block)
        assert mirror.total_redeemed() == token.total_redeemed(block)
        redemptions = mirror.redemptions(through_block=block)
        assert [r.redemption_id for r in redemptions] == list(
            range(1, token.redemption_count(block) + 1)
        )
        for r in redemptions:
            assert (r.shop, r.block_timestamp, r.amount) == token.redemption(r.redemption_id)


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(path)
    try:
        tables = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
    finally:
        db.close()


def test_mirror_equals_chain_after_every_kind_of_event(chain: Chain, tmp_path: Path) -> None:
    chain.activity(rounds=2)
    path = tmp_path / "mirror.sqlite"
    indexer = chain.indexer(path)
    assert indexer.sync_once() == chain.head() - chain.deploy_block + 1
    assert_mirror_equals_chain(path, chain)

    # views, blocks and the columns the settlement room reads
    tables = dump(path)
    db = sqlite3.connect(path)
    assert [r[1] for r in db.execute("PRAGMA table_info(redemptions)")] == [
        "redemption_id", "shop", "amount", "block_number", "block_timestamp", "tx_hash",
        "log_index",
    ]  # fmt: skip
    assert [r[1] for r in db.execute("PRAGMA table_info(checkpoint)")] == [
        "id", "block_number", "block_hash",
    ]  # fmt: skip
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    event_blocks = {row[2] for t in ("transfers", "rewards", "registrations") for row in tables[t]}
    stored = {row[0] for row in tables["blocks"]}
    assert event_blocks | {chain.head()} <= stored
    for number, block_hash, _, _ in tables["blocks"]:
        assert block_hash == "0x" + bytes(chain.w3.eth.get_block(number)["hash"]).hex()
    kinds = dict(db.execute("SELECT address, kind FROM accounts"))
    assert set(kinds.values()) == {"citizen", "shop", "none"}
    assert {r[-1] for r in tables["authorizations"]} == {"used", "canceled"}
    db.close()
    indexer.close()


def test_history_lists_rewards_payments_refunds_and_redemptions(
    chain: Chain, tmp_path: Path
) -> None:
    alice, shop = chain.new_account(AccountKind.CITIZEN), chain.new_account(AccountKind.SHOP)
    minted = chain.mint(alice, 1500)
    chain.pay(alice, shop, 450)
    chain.pay(shop, alice, 50)
    redeemed = chain.redeem(shop, 200)
    path = tmp_path / "mirror.sqlite"
    chain.indexer(path).sync_once()
    with Mirror(path) as mirror:
        mine = mirror.history(alice.address.lower(), limit=10)
        assert [(h.kind, h.amount, h.counterparty) for h in mine] == [
            ("payment_in", 50, shop.address),
            ("payment_out", 450, shop.address),
            ("reward", 1500, None),
        ]
        assert mine[-1].tx_hash == "0x" + bytes(minted["transactionHash"]).hex()
        assert mine[-1].task_ref is not None
        block = chain.w3.eth.get_block(minted["blockNumber"])
        assert mine[-1].timestamp == block["timestamp"]
        theirs = mirror.history(shop.address, limit=2)
        assert [(h.kind, h.amount) for h in theirs] == [("redemption", 200), ("payment_out", 50)]
        assert theirs[0].redemption_id == chain.token.redemption_id_from_receipt(redeemed)
        assert len(mirror.history(shop.address, limit=10, offset=1)) == 2
        assert mirror.balance(alice.address) == 1500 - 450 + 50
        # settlement cut-offs
        rid = theirs[0].redemption_id
        assert rid is not None
        at = mirror.redemption(rid)
        assert at is not None and at.amount == 200
        cut = [r.redemption_id for r in mirror.redemptions(through_block=at.block_number - 1)]
        assert rid not in cut
        assert rid in [
            r.redemption_id for r in mirror.redemptions(through_timestamp=at.block_timestamp)
        ]
        with pytest.raises(MirrorBehind):
            mirror.redemptions(through_block=chain.head() + 1)


def test_syncing_the_same_range_again_adds_nothing(chain: Chain, tmp_path: Path) -> None:
    chain.activity()
    path = tmp_path / "mirror.sqlite"
    indexer = chain.indexer(path, batch_size=5)
    indexer.sync_once()
    before = dump(path)
    assert indexer.sync_once() == 0
    assert dump(path) == before
    # move the checkpoint back to the deploy block (rows stay): the replay writes them again
    deploy_hash = "0x" + bytes(chain.w3.eth.get_block(chain.deploy_block)["hash"]).hex()
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE checkpoint SET block_number=?, block_hash=?",
                   (chain.deploy_block, deploy_hash))  # fmt: skip
    db.close()
    assert indexer.sync_once() == chain.head() - chain.deploy_block
    assert dump(path) == before
    assert_mirror_equals_chain(path, chain)


def test_a_new_indexer_on_the_same_file_resumes(chain: Chain, tmp_path: Path) -> None:
    path = tmp_path / "mirror.sqlite"
    chain.activity()
    first = chain.indexer(path, batch_size=3)
    first.sync_once()
    half = first.checkpoint()
    first.close()
    assert half is not None
    chain.activity()
    second = chain.indexer(path, batch_size=3)
    assert second.checkpoint() == half
    assert second.sync_once() == chain.head() - half.block_number
    assert_mirror_equals_chain(path, chain)
    second.close()


def test_a_reorg_is_rolled_back_and_the_new_branch_indexed(chain: Chain, tmp_path: Path) -> None:
    alice, shop = chain.new_account(AccountKind.CITIZEN), chain.new_account(AccountKind.SHOP)
    chain.mint(alice, 1000)
    path = tmp_path / "mirror.sqlite"
    indexer = chain.indexer(path)
    indexer.sync_once()
    fork = chain.head()
    snapshot = chain.rpc("evm_snapshot", [])

    # branch A: a payment and a redemption, indexed
    chain.pay(alice, shop, 600)
    gone = chain.redeem(shop, 600)
    rid = chain.token.redemption_id_from_receipt(gone)
    chain.mint(alice, 5)
    indexer.sync_once()
    with Mirror(path) as mirror:
        assert mirror.redemption(rid) is not None
        assert mirror.redemption(rid).amount == 600  # type: ignore[union-attr]
    a_head = chain.head()

    # branch B from the same parent: other transactions at the same heights, and one more
    assert chain.rpc("evm_revert", [snapshot]) is True
    assert chain.head() == fork
    chain.pay(alice, shop, 300)
    chain.redeem(shop, 100)
    chain.mint(alice, 7)
    chain.mint(alice, 8)
    assert chain.head() > a_head
    indexer.sync_once()
    assert_mirror_equals_chain(path, chain)
    with Mirror(path) as mirror:
        assert mirror.redemption(rid).amount == 100  # type: ignore[union-attr]
        assert mirror.balance(shop.address) == 200
        gone_hash = "0x" + bytes(gone["transactionHash"]).hex()
        assert all(h.tx_hash != gone_hash for h in mirror.history(shop.address, limit=100))
    tables = dump(path)
    for number, block_hash, _, _ in tables["blocks"]:
        assert block_hash == "0x" + bytes(chain.w3.eth.get_block(number)["hash"]).hex()
    indexer.close()


def test_a_reorg_to_a_shorter_chain_is_rolled_back(chain: Chain, tmp_path: Path) -> None:
    alice, shop = chain.new_account(AccountKind.CITIZEN), chain.new_account(AccountKind.SHOP)
    path = tmp_path / "mirror.sqlite"
    indexer = chain.indexer(path)
    snapshot = chain.rpc("evm_snapshot", [])
    chain.mint(alice, 400)
    chain.pay(alice, shop, 400)
    chain.redeem(shop, 400)
    indexer.sync_once()
    assert chain.rpc("evm_revert", [snapshot]) is True
    chain.mint(alice, 1)  # one block where there were three
    assert indexer.checkpoint().block_number > chain.head()  # type: ignore[union-attr]
    indexer.sync_once()
    assert_mirror_equals_chain(path, chain)
    with Mirror(path) as mirror:
        assert mirror.balance(alice.address) == 1
        assert mirror.balance(shop.address) == 0
    indexer.close()


def test_confirmations_hold_back_the_newest_blocks(chain: Chain, tmp_path: Path) -> None:
    alice = chain.new_account(AccountKind.CITIZEN)
    chain.mint(alice, 3)
    indexer = chain.indexer(tmp_path / "mirror.sqlite", confirmations=2)
    indexer.sync_once()
    assert indexer.checkpoint().block_number == chain.head() - 2  # type: ignore[union-attr]
    with Mirror(tmp_path / "mirror.sqlite") as mirror:
        assert mirror.balance(alice.address) == 0  # the mint is one of the two newest blocks
    indexer.close()


def test_run_loop_and_wait_until_follow_the_chain(chain: Chain, tmp_path: Path) -> None:
    path = tmp_path / "mirror.sqlite"
    indexer = chain.indexer(path)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run, args=(0.05, stop), daemon=True)
    thread.start()
    try:
        alice = chain.new_account(AccountKind.CITIZEN)
        receipt = chain.mint(alice, 250)
        with Mirror(path) as mirror:
            checkpoint = mirror.wait_until(int(receipt["blockNumber"]), timeout=20)
            assert checkpoint.block_number >= receipt["blockNumber"]
            assert mirror.balance(alice.address) == 250
        receipt = chain.mint(alice, 1)
        assert indexer.wait_until(int(receipt["blockNumber"]), timeout=20).block_number >= int(
            receipt["blockNumber"]
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    indexer.close()


def test_readers_see_committed_state_while_the_writer_writes(chain: Chain, tmp_path: Path) -> None:
    path = tmp_path / "mirror.sqlite"
    indexer = chain.indexer(path)
    indexer.sync_once()
    before = indexer.checkpoint()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE checkpoint SET block_number = block_number + 1000")
    with Mirror(path) as mirror:
        assert mirror.checkpoint() == before  # not blocked, and no half-written state
        mirror.balances()
    writer.execute("ROLLBACK")
    writer.close()
    indexer.close()


def test_rows_and_checkpoint_commit_together(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher = Fetcher(chain.w3, chain.token.address)
    head = chain.head()
    fetched = fetcher.fetch(chain.deploy_block, head)
    records = decode_logs(fetched.logs, chain.token.address)
    blocks = {n: decode_block(raw) for n, raw in fetched.blocks.items() if raw is not None}
    writer = Writer(tmp_path / "mirror.sqlite")
    table = writer.db.table

    class Broken:
        def insert(self, *args: Any, **kwargs: Any) -> None:
            raise sqlite3.OperationalError("disk went away")

    monkeypatch.setattr(
        writer.db, "table", lambda name: Broken() if name == "checkpoint" else table(name)
    )
    with pytest.raises(sqlite3.OperationalError):
        writer.write(records, blocks, blocks[head])
    assert writer.checkpoint() is None
    assert all(rows == [] for name, rows in dump(tmp_path / "mirror.sqlite").items()
               if name != "meta")  # fmt: skip
    monkeypatch.undo()
    writer.write(records, blocks, blocks[head])
    assert writer.checkpoint() is not None
    writer.close()


def test_fetcher_splits_ranges_the_node_refuses(chain: Chain) -> None:
    class Picky(Fetcher):
        def _request(self, method: str, params: list[Any]) -> Any:
            if method == "eth_getLogs":
                span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16)
                if span > 2:
                    raise ChainUnavailable("eth_getLogs: query returned more than 10000 results")
            return super()._request(method, params)

    head = chain.head()
    plain = Fetcher(chain.w3, chain.token.address).logs(chain.deploy_block, head)
    split = Picky(chain.w3, chain.token.address).logs(chain.deploy_block, head)
    assert split == plain and plain


def test_a_node_that_does_not_answer_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ChainUnavailable) as caught:
        Indexer(connect(f"http://127.0.0.1:{free_port()}"), ZERO, tmp_path / "m.sqlite", 1)
    assert caught.value.code == "chain_unavailable"


def test_mirror_before_the_indexer_ran(tmp_path: Path) -> None:
    with Mirror(tmp_path / "nothing.sqlite") as mirror:
        assert mirror.checkpoint() is None
        assert mirror.checkpoint_block() is None
        assert mirror.balance("0x" + "ab" * 20) == 0
        assert mirror.history("0x" + "ab" * 20) == []
        assert mirror.total_supply() == 0
        with pytest.raises(MirrorBehind):
            mirror.redemptions(through_block=1)


def test_a_mirror_of_another_token_is_refused(chain: Chain, tmp_path: Path) -> None:
    path = tmp_path / "mirror.sqlite"
    chain.indexer(path).close()
    with pytest.raises(MirrorMismatch):
        Indexer(chain.w3, "0x" + "12" * 20, path, chain.deploy_block)
