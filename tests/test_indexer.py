"""The indexer: decoding recorded RPC replies, and a real anvil mirrored into real SQLite files.

One anvil (module scope) carries every chain test; each test indexes it into its own mirror
file from the deploy block and compares the mirror with the contract's own reads.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
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
from indexer.index import Indexer, _chunk_end
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

    def indexer(self, path: Path, **options: Any) -> Indexer:
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


def test_rows_and_checkpoint_commit_together(chain: Chain, tmp_path: Path) -> None:
    fetcher = Fetcher(chain.w3, chain.token.address)
    head = chain.head()
    fetched = fetcher.fetch(chain.deploy_block, head)
    records = decode_logs(fetched.logs, chain.token.address)
    blocks = {n: decode_block(raw) for n, raw in fetched.blocks.items() if raw is not None}
    writer = Writer(tmp_path / "mirror.sqlite")
    # the checkpoint write fails after every row went in: the whole write must go
    writer.conn.execute(
        "CREATE TEMP TRIGGER broken BEFORE INSERT ON main.checkpoint "
        "BEGIN SELECT RAISE(ABORT, 'disk went away'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk went away"):
        writer.write(records, blocks, blocks[head])
    assert writer.checkpoint() is None
    assert all(rows == [] for name, rows in dump(tmp_path / "mirror.sqlite").items()
               if name != "meta")  # fmt: skip
    writer.conn.execute("DROP TRIGGER broken")
    writer.write(records, blocks, blocks[head])
    assert writer.checkpoint() is not None
    writer.close()


def test_fetcher_splits_ranges_the_node_refuses(chain: Chain) -> None:
    class Picky(Fetcher):
        def _request(self, method: str, params: list[Any], timeout: float | None = None) -> Any:
            if method == "eth_getLogs":
                span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16)
                if span > 2:
                    raise ChainUnavailable("eth_getLogs: query returned more than 10000 results")
            return super()._request(method, params, timeout)

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


# ----- adaptive ranges and chunked writes -----


class PickyNode:
    """A real HTTP JSON-RPC proxy in front of the anvil that behaves like a node with limits:
    an `eth_getLogs` whose result would hold more than `max_results` logs is answered with
    geth's and anvil's "query returned more than N results" error, and one spanning more than
    `slow_span` blocks is answered only after `delay` seconds (a node that times out)."""

    def __init__(self, upstream: str, max_results: int = 10**9, slow_span: int = 10**9) -> None:
        self.upstream = upstream
        self.max_results = max_results
        self.slow_span = slow_span
        self.delay = 6.0
        self.served: list[tuple[int, int, int]] = []  # (from, to, logs) answered in time
        self.refused: list[tuple[int, int]] = []
        self.slow: list[tuple[int, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a node does

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reply = (
                    [proxy.answer(r) for r in body]
                    if isinstance(body, list)
                    else proxy.answer(body)
                )
                data = json.dumps(reply).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting (a timeout)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.client = httpx.Client(timeout=30)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, request: dict[str, Any]) -> Any:
        with self.lock:
            reply = self.client.post(self.upstream, json=request).json()
        if request.get("method") != "eth_getLogs" or "result" not in reply:
            return reply
        lo, hi = (int(request["params"][0][k], 16) for k in ("fromBlock", "toBlock"))
        if hi - lo + 1 > self.slow_span:
            self.slow.append((lo, hi))
            time.sleep(self.delay)
            return reply
        if len(reply["result"]) > self.max_results:
            self.refused.append((lo, hi))
            return {
                "jsonrpc": "2.0",
                "id": request.get("id"),
                "error": {
                    "code": -32602,
                    "message": f"query returned more than {self.max_results} results",
                },
            }
        self.served.append((lo, hi, len(reply["result"])))
        return reply

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()


def assert_mirror_equals_logs(path: Path, chain: Chain, start: int) -> None:
    """The mirror of blocks `start..head` holds a row for every kept log of the chain there and
    nothing else, checkpoint at the head, every column as a plain indexer without limits
    writes them."""
    head = chain.head()
    kept = decode_logs(Fetcher(chain.w3, chain.token.address).logs(start, head))
    tables = dump(path)
    keys = [(r[0], r[1]) for t in ("transfers", "rewards", "registrations", "authorizations")
            for r in tables[t]] + [(r[5], r[6]) for r in tables["redemptions"]]  # fmt: skip
    assert sorted(keys) == sorted((r.tx_hash, r.log_index) for r in kept) and kept
    header = chain.w3.eth.get_block(head)
    assert tables["checkpoint"] == [(1, head, "0x" + bytes(header["hash"]).hex())]
    reference = path.with_name("reference.sqlite")
    plain = Indexer(chain.w3, chain.token.address, reference, start)
    plain.sync_once()
    plain.close()
    expected = dump(reference)
    # headers kept: those of the event blocks and of the checkpoints, which differ with ranges
    assert {t: rows for t, rows in tables.items() if t != "blocks"} == {
        t: rows for t, rows in expected.items() if t != "blocks"
    }
    event_blocks = {r[2] for t in ("transfers", "rewards", "registrations") for r in tables[t]}
    assert event_blocks <= {r[0] for r in tables["blocks"]}
    for number, block_hash, _, _ in tables["blocks"]:
        assert block_hash == "0x" + bytes(chain.w3.eth.get_block(number)["hash"]).hex()


def test_ranges_shrink_when_the_node_refuses_them_and_grow_again(
    chain: Chain, tmp_path: Path
) -> None:
    start = chain.head() + 1
    chain.activity(rounds=2)
    chain.rpc("anvil_mine", [hex(300)])  # then a long stretch without events
    node = PickyNode(chain.w3.provider.endpoint_uri, max_results=6)  # type: ignore[attr-defined]
    try:
        path = tmp_path / "mirror.sqlite"
        indexer = Indexer(connect(node.url), chain.token.address, path, start, log_target=1_000)
        assert indexer.sync_once() == chain.head() - start + 1
        assert_mirror_equals_logs(path, chain, start)
        # it was refused, asked for smaller ranges, and never got more than the limit
        assert node.refused and indexer.fetcher.refusals == len(node.refused)
        assert all(logs <= 6 for _, _, logs in node.served)
        served = [(lo, hi) for lo, hi, _ in node.served]
        assert served[0][0] == start and served[-1][1] == chain.head()
        for (_, hi), (lo, _) in itertools.pairwise(served):
            assert lo == hi + 1  # no gap, no overlap
        # after the refusals, ranges grew again over the empty stretch
        last_refused = max(hi - lo + 1 for lo, hi in node.refused)
        assert max(hi - lo + 1 for lo, hi, n in node.served if n == 0) > last_refused
        indexer.close()
    finally:
        node.close()


def test_ranges_shrink_when_the_node_times_out(chain: Chain, tmp_path: Path) -> None:
    start = chain.head() + 1
    chain.activity()
    chain.rpc("anvil_mine", [hex(40)])
    node = PickyNode(chain.w3.provider.endpoint_uri, slow_span=6)  # type: ignore[attr-defined]
    try:
        path = tmp_path / "mirror.sqlite"
        indexer = Indexer(connect(node.url), chain.token.address, path, start,
                          batch_size=32, logs_timeout=2.0)  # fmt: skip
        assert indexer.sync_once() == chain.head() - start + 1
        assert_mirror_equals_logs(path, chain, start)
        assert node.slow and indexer.fetcher.refusals >= len(node.slow)
        assert all(hi - lo + 1 <= 6 for lo, hi, _ in node.served)
        indexer.close()
    finally:
        node.close()


def test_a_single_block_the_node_refuses_is_reported(chain: Chain, tmp_path: Path) -> None:
    alice = chain.new_account(AccountKind.CITIZEN)
    chain.mint(alice, 5)  # a block with two logs
    node = PickyNode(chain.w3.provider.endpoint_uri, max_results=1)  # type: ignore[attr-defined]
    try:
        indexer = Indexer(connect(node.url), chain.token.address, tmp_path / "m.sqlite",
                          chain.deploy_block)  # fmt: skip
        with pytest.raises(ChainUnavailable, match="more than 1 results"):
            indexer.sync_once()
        indexer.close()
    finally:
        node.close()


def test_a_range_is_written_in_chunks_each_with_its_checkpoint(
    chain: Chain, tmp_path: Path
) -> None:
    chain.activity(rounds=2)
    path = tmp_path / "mirror.sqlite"
    indexer = chain.indexer(path, log_target=10_000, chunk_logs=3, commit_logs=1)
    head = chain.head()
    seen = sqlite3.connect(path)
    commits: list[tuple[int, int, int]] = []  # (checkpoint, rows at or below it, rows above)
    write_rows = indexer.writer.write_rows

    def watched(rows: Any, headers: Any, checkpoint: Any) -> None:
        assert sum(len(r) for r in rows.values()) <= 3 or len({h.number for h in headers}) == 1
        write_rows(rows, headers, checkpoint)
        top = seen.execute("SELECT block_number FROM checkpoint").fetchone()[0]
        below = above = 0
        for table in ("transfers", "rewards", "redemptions", "registrations", "authorizations"):
            below += seen.execute(
                f"SELECT COUNT(*) FROM {table} WHERE block_number <= ?", [top]
            ).fetchone()[0]
            above += seen.execute(
                f"SELECT COUNT(*) FROM {table} WHERE block_number > ?", [top]
            ).fetchone()[0]
        commits.append((top, below, above))

    ranges: list[int] = []  # logs per eth_getLogs range
    next_logs = indexer.fetcher.next_logs

    def counted(from_block: int, last_block: int) -> tuple[int, list[Any]]:
        to_block, logs = next_logs(from_block, last_block)
        ranges.append(len(logs))
        return to_block, logs

    indexer.writer.write_rows = watched  # type: ignore[method-assign]
    indexer.fetcher.next_logs = counted  # type: ignore[method-assign]
    assert indexer.sync_once() == head - chain.deploy_block + 1
    assert_mirror_equals_chain(path, chain)
    # ranges of more logs than a chunk were written in several transactions
    assert max(ranges) > 3 * 3
    assert len(commits) > len(ranges) + 3
    assert [c[0] for c in commits] == sorted({c[0] for c in commits})  # always forward
    assert all(above == 0 for _, _, above in commits)  # rows never ahead of the checkpoint
    # each checkpoint holds exactly the rows of the blocks up to it: the chain's kept logs
    fetcher = Fetcher(chain.w3, chain.token.address)
    kept = [(r.block_number) for r in decode_logs(fetcher.logs(chain.deploy_block, head))]
    for top, below, _ in commits:
        assert below == sum(1 for n in kept if n <= top), top
    seen.close()
    indexer.close()


def test_a_failed_chunk_keeps_the_chunks_before_it(chain: Chain, tmp_path: Path) -> None:
    chain.activity()
    path = tmp_path / "mirror.sqlite"
    indexer = chain.indexer(path, chunk_logs=4)
    # the third checkpoint write fails, inside its transaction, after its rows went in
    indexer.writer.conn.executescript(
        """
        CREATE TEMP TABLE writes (n INTEGER);
        CREATE TEMP TRIGGER count_writes AFTER INSERT ON main.checkpoint
            BEGIN INSERT INTO writes VALUES (1); END;
        CREATE TEMP TRIGGER third_fails BEFORE INSERT ON main.checkpoint
            WHEN (SELECT COUNT(*) FROM writes) >= 2
            BEGIN SELECT RAISE(ABORT, 'disk went away'); END;
        """
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk went away"):
        indexer.sync_once()
    tables = dump(path)
    checkpoint = indexer.checkpoint()
    assert checkpoint is not None and checkpoint.block_number < chain.head()
    kept = decode_logs(
        Fetcher(chain.w3, chain.token.address).logs(chain.deploy_block, chain.head())
    )
    rows = [row for t in ("transfers", "rewards", "registrations", "authorizations")
            for row in tables[t]] + [(r[5], r[6], r[3]) for r in tables["redemptions"]]  # fmt: skip
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (r.tx_hash, r.log_index) for r in kept if r.block_number <= checkpoint.block_number
    )
    indexer.writer.conn.executescript("DROP TRIGGER third_fails; DROP TRIGGER count_writes;")
    indexer.sync_once()
    assert_mirror_equals_chain(path, chain)
    indexer.close()


def test_chunks_never_split_a_block() -> None:
    logs = [{"blockNumber": hex(n)} for n in (1, 1, 2, 2, 2, 3, 4, 4, 4, 4, 4)]
    cuts = []
    rest = list(logs)
    while rest:
        cut = _chunk_end(rest, 3)
        cuts.append([int(str(x["blockNumber"]), 16) for x in rest[:cut]])
        del rest[:cut]
    assert cuts == [[1, 1], [2, 2, 2], [3], [4, 4, 4, 4, 4]]
    assert _chunk_end([], 3) == 0
