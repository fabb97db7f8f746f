"""Refunds name the payment they return, at most its amount in total, only to its payer
(issue 9, item 3). Against a real anvil, API and indexer (`module_stack`).

The defect on the landed main: a shop "refund" was any shop-to-citizen transfer, to someone
who never paid. Expected balances are worked out from the rules: a citizen rewarded R HEIT who
paid p and was refunded f holds R - p + f (base units, 1 HEIT = 100).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from eth_account import Account
from web3.types import RPCEndpoint

from node.keys import service_key
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, IBAN_KAPPER, Api
from tests.conftest import fresh, poll
from tests.test_recovery import own_wallet_shop, relay_body

COORDINATOR = "refund-coco"


@pytest.fixture(scope="module")
def api(module_stack: Stack) -> Iterator[Api]:
    client = Api(module_stack, coordinator=COORDINATOR)
    client.staff(COORDINATOR, "coordinator")
    yield client
    client.close()


def code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, str(r.json().get("code"))


def pay(api: Api, payer: str, to: str, amount: str, refund_of: Any = None) -> httpx.Response:
    body: dict[str, Any] = {"to": to, "amount": amount}
    if refund_of is not None:
        body["refund_of"] = refund_of
    return api.request("POST", "/payments", payer, json=body)


def paid(api: Api, payer: str, to: str, amount: str) -> int:
    r = pay(api, payer, to, amount)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_a_refund_names_its_payers_payments_and_returns_at_most_them(api: Api) -> None:
    anna, bert, shop, other = fresh("anna"), fresh("bert"), fresh("shop"), fresh("shop")
    api.citizen(anna)
    api.citizen(bert)
    api.shop(shop, IBAN_BAKKER)
    api.shop(other, IBAN_KAPPER)
    api.wait_registered(anna, bert, shop, other)
    api.reward(fresh("t-"), "20.00", anna)
    api.reward(fresh("t-"), "10.00", bert)
    p1 = paid(api, anna, shop, "5.00")
    p2 = paid(api, anna, shop, "3.00")
    p3 = paid(api, bert, shop, "2.00")
    p4 = paid(api, anna, other, "1.00")
    # shop holds 10.00: 5.00 + 3.00 from anna, 2.00 from bert.

    # Without naming a payment (the landed main paid this to anyone): refused.
    assert code(pay(api, shop, anna, "1.00")) == (422, "refund_payment_required")
    assert code(pay(api, shop, anna, "1.00", [])) == (422, "invalid_request")
    # Naming bert's payment to refund anna: only to its payer.
    assert code(pay(api, shop, anna, "1.00", [p3])) == (422, "refund_not_payer")
    # Naming anna's payment to another shop, or one that does not exist.
    assert code(pay(api, shop, anna, "1.00", [p4])) == (422, "refund_payment_not_found")
    assert code(pay(api, shop, anna, "1.00", [p4 + 10_000])) == (422, "refund_payment_not_found")
    # More than the named payments: 5.00 + 3.00 = 8.00 < 8.01.
    assert code(pay(api, shop, anna, "8.01", [p1, p2])) == (422, "refund_exceeds_payment")
    assert code(pay(api, shop, anna, "3.01", [p2])) == (422, "refund_exceeds_payment")
    # A citizen's payment cannot claim to be a refund.
    assert code(pay(api, anna, shop, "1.00", [p1])) == (422, "invalid_request")
    assert (api.chain_balance(anna), api.chain_balance(shop)) == (2000 - 900, 1000)

    # 4.00 of both: newest first, all 3.00 of p2, then 1.00 of p1.
    r = pay(api, shop, anna, "4.00", [p1, p2])
    assert r.status_code == 201, r.text
    assert r.json()["refund_of"] == [
        {"payment_id": p1, "amount": "1.00"},
        {"payment_id": p2, "amount": "3.00"},
    ]
    assert (api.chain_balance(anna), api.chain_balance(shop)) == (2000 - 900 + 400, 1000 - 400)
    listed = api.request("GET", f"/payments/received?payer={anna}", shop)
    assert listed.status_code == 200, listed.text
    assert [(p["id"], p["amount"], p["refunded"], p["refundable"]) for p in listed.json()] == [
        (p2, "3.00", "3.00", "0.00"),
        (p1, "5.00", "1.00", "4.00"),
    ]
    # What is left of p1 is 4.00: 4.01 is refused, 4.00 taken, then nothing is left.
    assert code(pay(api, shop, anna, "4.01", [p1, p2])) == (422, "refund_exceeds_payment")
    assert pay(api, shop, anna, "4.00", [p1]).status_code == 201
    assert code(pay(api, shop, anna, "0.01", [p1, p2])) == (422, "refund_exceeds_payment")
    # bert's payment is still his to be refunded.
    assert pay(api, shop, bert, "2.00", [p3]).status_code == 201
    assert (api.chain_balance(anna), api.chain_balance(bert), api.chain_balance(shop)) == (
        2000 - 900 + 800,
        1000 - 200 + 200,
        0,
    )
    # Only shops list received payments.
    assert code(api.request("GET", f"/payments/received?payer={bert}", anna)) == (
        403,
        "forbidden",
    )
    api.check_responses()


def test_a_relayed_refund_of_an_own_wallet_shop_follows_the_same_rules(
    api: Api, module_stack: Stack
) -> None:
    token = module_stack.token
    anna, bert = fresh("anna"), fresh("bert")
    api.citizen(anna)
    api.citizen(bert)
    winkel, key = own_wallet_shop(api)
    api.wait_registered(anna, bert)
    api.reward(fresh("t-"), "10.00", anna)
    api.reward(fresh("t-"), "10.00", bert)
    p1 = paid(api, anna, winkel, "6.00")
    p2 = paid(api, bert, winkel, "1.00")
    anna_addr, bert_addr = api.addresses[anna], api.addresses[bert]

    def relay(to: str, units: int, refund_of: list[int] | None) -> httpx.Response:
        body = relay_body(token.authorize_transfer(key, to, units), refund_of)
        return api.request("POST", "/relay/transfer", winkel, json=body)

    assert code(relay(anna_addr, 100, None)) == (422, "refund_payment_required")
    assert code(relay(anna_addr, 100, [p2])) == (422, "refund_not_payer")
    assert code(relay(bert_addr, 100, [p1])) == (422, "refund_not_payer")
    assert code(relay(anna_addr, 601, [p1])) == (422, "refund_exceeds_payment")
    assert (token.balance_of(anna_addr), token.balance_of(key.address)) == (400, 700)
    assert relay(anna_addr, 600, [p1]).status_code == 201
    assert code(relay(anna_addr, 1, [p1])) == (422, "refund_exceeds_payment")
    assert (token.balance_of(anna_addr), token.balance_of(key.address)) == (1000, 100)
    api.check_responses()


def test_a_relayed_refund_whose_fee_bump_twin_was_mined_is_not_refundable_again(
    api: Api, module_stack: Stack
) -> None:
    """The defect: when the relayer's refund transaction was replaced by a fee-bump twin
    (same payload, same nonce, more gas), `wait` raised `tx_replaced` and the refund's parts
    were freed, although the twin had used the authorization and moved the coins: the shop
    could refund the same payment a second time. Now the chain's `AuthorizationUsed` decides:
    the refund is confirmed (answered with the twin), and nothing of the payment is left."""
    stack = module_stack
    token, w3 = stack.token, stack.token.w3
    anna, bert = fresh("anna"), fresh("bert")
    api.citizen(anna)
    api.citizen(bert)
    winkel, key = own_wallet_shop(api)
    api.wait_registered(anna, bert)
    api.reward(fresh("t-"), "10.00", anna)
    api.reward(fresh("t-"), "10.00", bert)
    p1 = paid(api, anna, winkel, "6.00")
    paid(api, bert, winkel, "6.00")  # so the shop could pay a second refund of p1
    anna_addr = api.addresses[anna]
    assert (token.balance_of(anna_addr), token.balance_of(key.address)) == (400, 1200)
    api.token(winkel)  # logged in before the request runs in another thread

    # A refund the chain refuses before anything is broadcast (signed by another key) was
    # provably never used: its parts are freed, all of p1 is still refundable.
    forged = relay_body(token.authorize_transfer(Account.create(), anna_addr, 600), [p1])
    forged["from"] = key.address
    r = api.request("POST", "/relay/transfer", winkel, json=forged)
    assert code(r) == (422, "invalid_signature")

    relayer = service_key(stack.data_dir / "keys", "relayer")
    auth = token.authorize_transfer(key, anna_addr, 600)
    journal = stack.data_dir / "nonces.sqlite"

    def relayed_tx() -> tuple[int, dict[str, Any]] | None:
        """(nonce, params) of the relayer's open transaction carrying `auth`."""
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=30)
        try:
            rows = db.execute(
                "SELECT nonce, params FROM journal WHERE address = ? AND status = 'sent'",
                (relayer.address,),
            ).fetchall()
        finally:
            db.close()
        for nonce, params in rows:
            if auth.nonce.hex() in params:
                return int(nonce), json.loads(params)
        return None

    def rpc(method: str, *params: Any) -> None:
        reply = w3.provider.make_request(RPCEndpoint(method), list(params))
        assert "error" not in reply, reply

    rpc("evm_setAutomine", False)
    try:
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(
                api.request, "POST", "/relay/transfer", winkel, json=relay_body(auth, [p1])
            )
            found = poll(relayed_tx, "the relayed refund in the pool", timeout=60)
            assert found is not None
            nonce, params = found
            # The fee-bump twin: the same call with the same nonce at twice the gas price.
            twin = relayer.sign_transaction(
                {
                    **params,
                    "nonce": nonce,
                    "chainId": w3.eth.chain_id,
                    "gasPrice": 2 * int(params["gasPrice"]),
                }
            )
            twin_hash = "0x" + bytes(w3.eth.send_raw_transaction(twin.raw_transaction)).hex()
            rpc("evm_mine")
            rpc("evm_setAutomine", True)
            r = answer.result(timeout=120)
    finally:
        rpc("evm_setAutomine", True)
    assert r.status_code == 201, r.text
    assert r.json()["tx_hash"] == twin_hash  # the twin is the transaction that refunded
    assert (token.balance_of(anna_addr), token.balance_of(key.address)) == (1000, 600)
    # 6.00 of p1 refunded, nothing left: a second refund naming it is refused.
    second = relay_body(token.authorize_transfer(key, anna_addr, 600), [p1])
    r = api.request("POST", "/relay/transfer", winkel, json=second)
    assert code(r) == (422, "refund_exceeds_payment")
    listed = api.request("GET", f"/payments/received?payer={anna}", winkel)
    assert [(p["id"], p["refunded"], p["refundable"]) for p in listed.json()] == [
        (p1, "6.00", "0.00")
    ]
    assert (token.balance_of(anna_addr), token.balance_of(key.address)) == (1000, 600)
    api.check_responses()
