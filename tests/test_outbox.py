"""One record of a transaction's fate: when the outbox calls an intent confirmed, the signer's
journal says the transaction behind it is confirmed (never still `sent`), for registrations and
for mints; and every face reaches the same domain functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from node.signer import journal_fate
from scripts.stack import Stack
from tests.apiclient import Api
from tests.conftest import fresh

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
    api.publish(ref, "2.50", by=COORDINATOR)
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
