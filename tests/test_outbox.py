"""One record of a transaction's fate: when the outbox calls an intent confirmed, the signer's
journal says the transaction behind it is confirmed (never still `sent`), for registrations and
for mints; and every face reaches the same domain functions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3.types import RPCEndpoint

from node.signer import journal_fate
from scripts.stack import Stack
from tests.apiclient import Api
from tests.conftest import fresh, poll

COORDINATOR, AUDITOR = fresh("coord"), fresh("aud")


@pytest.fixture(scope="module")
def api(module_stack: Stack) -> Iterator[Api]:
    client = Api(module_stack)
    client.staff(COORDINATOR, "coordinator")
    client.staff(AUDITOR, "auditor")
    yield client
    client.close()


def _intents(api: Api, username: str) -> list[dict[str, Any]]:
    r = api.request("GET", "/audit/intents?limit=1000", AUDITOR)
    assert r.status_code == 200, r.text
    return [i for i in r.json() if i["username"] == username]


def test_a_registration_is_confirmed_in_the_journal(api: Api, module_stack: Stack) -> None:
    citizen = fresh("cit")
    api.citizen(citizen)
    api.wait_registered(citizen)
    [intent] = _intents(api, citizen)
    assert intent["kind"] == "register" and intent["status"] == "confirmed"
    tx_hash = str(intent["tx_hash"])
    assert journal_fate(module_stack.paths.nonce_journal, tx_hash) == "confirmed"


def test_a_reward_is_confirmed_in_the_journal(api: Api, module_stack: Stack) -> None:
    citizen, ref = fresh("cit"), fresh("task-")
    api.citizen(citizen)
    api.wait_registered(citizen)
    api.publish(ref, "2.50")  # by another coordinator
    assert api.request("POST", f"/tasks/{ref}/claim", citizen).status_code == 200
    assert api.request("POST", f"/tasks/{ref}/submit", citizen).status_code == 200
    assert api.approve(ref, by=COORDINATOR).status_code == 200
    task = api.wait_reward(ref)
    assert task["reward_status"] == "confirmed"
    assert journal_fate(module_stack.paths.nonce_journal, task["reward_tx"]) == "confirmed"
    mint = [i for i in _intents(api, citizen) if i["kind"] == "mint"]
    assert [(m["status"], m["tx_hash"], m["amount"]) for m in mint] == [
        ("confirmed", task["reward_tx"], "2.50")
    ]
    assert module_stack.token.balance_of(api.addresses[citizen]) == 250


def test_an_unknown_transaction_has_no_fate(module_stack: Stack) -> None:
    assert journal_fate(module_stack.paths.nonce_journal, "0x" + "ab" * 32) is None


@pytest.mark.stack_env(HEITJE_TX_EXPIRE_AFTER="1")
def test_a_mint_that_expired_is_sent_again_and_minted_once(stack: Stack) -> None:
    """The defect: a mint the node kept without mining held its intent `sent` for ever. Its
    nonce is cancelled after `tx_expire_after`; the intent is sent again with a new nonce and
    the reward is minted exactly once."""
    api = Api(stack)
    try:
        api.staff(COORDINATOR, "coordinator")
        api.staff(AUDITOR, "auditor")
        citizen, ref = fresh("cit"), fresh("task-")
        api.citizen(citizen)
        api.wait_registered(citizen)
        api.publish(ref, "2.50")  # by another coordinator
        assert api.request("POST", f"/tasks/{ref}/claim", citizen).status_code == 200
        assert api.request("POST", f"/tasks/{ref}/submit", citizen).status_code == 200
        w3 = stack.token.w3

        def rpc(method: str, params: list[Any]) -> Any:
            reply = w3.provider.make_request(RPCEndpoint(method), params)
            assert "error" not in reply, reply
            return reply["result"]

        rpc("evm_setAutomine", [False])
        try:
            assert api.approve(ref, by=COORDINATOR).status_code == 200
            first = poll(lambda: _mint(api, citizen).get("tx_hash"), "the mint sent")
            journal = stack.paths.nonce_journal
            poll(lambda: _cancelled(journal, str(first)), "the cancel of the unmined mint sent")
            rpc("evm_mine", [])  # the cancel takes the nonce; the mint never will be mined
            poll(lambda: journal_fate(journal, str(first)) == "expired", "the mint expired")
        finally:
            rpc("evm_setAutomine", [True])
        task = api.wait_reward(ref)
        assert task["reward_tx"] != first
        assert journal_fate(journal, task["reward_tx"]) == "confirmed"
        assert stack.token.balance_of(api.addresses[citizen]) == 250  # once, not twice
        assert stack.token.total_minted() == 250  # the stack's only reward
    finally:
        api.close()


def _mint(api: Api, citizen: str) -> dict[str, Any]:
    mints = [i for i in _intents(api, citizen) if i["kind"] == "mint"]
    return mints[0] if mints else {}


def _cancelled(journal: Path, tx_hash: str) -> bool:
    """A cancel of `tx_hash`'s nonce is in the node's pool. The journal row is written before
    the broadcast; only `sent` says the node has it (mining earlier mines the original)."""
    db = sqlite3.connect(journal)
    try:
        row = db.execute(
            "SELECT COUNT(*) FROM journal WHERE purpose='cancel' AND status='sent' AND nonce="
            "(SELECT nonce FROM journal WHERE tx_hash=?)",
            (tx_hash,),
        ).fetchone()
    finally:
        db.close()
    return bool(row[0])
