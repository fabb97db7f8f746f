"""Money in flight, payments: each test reproduces a defect of the landed main against a real
anvil (through the project's fault-injecting JSON-RPC proxy where the node must misbehave) and
checks the rule: a payment is paid at most once, answered `confirmed` only at the confirmation
depth, never stuck `pending`, never a 5xx.

Expected balances are worked out from the rules: a citizen rewarded R HEIT who paid p HEIT in
confirmed payments holds R - p.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from web3.types import RPCEndpoint

from heitje.datadir import DataDir
from node.anvil import Anvil, dev_private_key
from node.keys import service_key
from scripts.deploy import ensure_dev_keys
from scripts.faults import FaultProxy, Faults
from scripts.stack import Stack, start_stack
from tests.apiclient import IBAN_BAKKER, Api
from tests.conftest import TEST_ENV, fresh, poll

COORDINATOR = "coco"


def _people(api: Api, reward: str) -> tuple[str, str]:
    """A fresh citizen rewarded `reward` HEIT and a fresh shop, both registered."""
    citizen, shop = fresh("cit"), fresh("shop")
    api.citizen(citizen)
    api.shop(shop, IBAN_BAKKER)
    api.wait_registered(citizen, shop)
    api.reward(fresh("t-"), reward, citizen)
    return citizen, shop


def _api(stack: Stack) -> Api:
    api = Api(stack)
    api.staff(COORDINATOR, "coordinator")
    return api


def _mine(stack: Stack, blocks: int) -> None:
    for _ in range(blocks):
        stack.token.w3.provider.make_request(RPCEndpoint("evm_mine"), [])


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Stack, FaultProxy]]:
    """A stack whose API and indexer reach anvil through the fault proxy."""
    chain_dir = tmp_path / "chain"
    with Anvil(chain_dir) as anvil:
        ensure_dev_keys(chain_dir)
        attacker = dev_private_key(chain_dir, 9)  # a funded dev account, not a service key
        with FaultProxy(anvil.rpc_url, Faults(front_run_key=attacker)) as proxy:
            stack = start_stack(
                tmp_path / "data",
                rpc_url=proxy.url,
                keys_dir=DataDir(chain_dir).keys,
                env=TEST_ENV,
            )
            with stack:
                yield stack, proxy


def test_a_payment_is_confirmed_only_at_the_confirmation_depth(tmp_path: Path) -> None:
    """The defect: 201 confirmed at zero confirmations, then gone after a reorg. With a depth
    of 2 the answer is 202 pending with the tx hash until two blocks are on top."""
    env = {**TEST_ENV, "HEITJE_CONFIRMATIONS": "2", "HEITJE_RECEIPT_TIMEOUT": "1"}
    with start_stack(tmp_path / "data", env=env, confirmations=2) as stack:
        api = _api(stack)
        _mine(stack, 4)  # let the set-up settle at depth
        citizen, shop = _people_at_depth(api, stack)
        key = secrets.token_hex(8)
        body = {"to": shop, "amount": "4.00"}
        first = api.request(
            "POST", "/payments", citizen, json=body, headers={"Idempotency-Key": key}
        )
        assert first.status_code == 202, first.text
        pending = first.json()
        assert pending["status"] == "pending" and pending["tx_hash"]
        _mine(stack, 2)
        again = api.request(
            "POST", "/payments", citizen, json=body, headers={"Idempotency-Key": key}
        )
        assert again.status_code == 201, again.text
        done = again.json()
        assert done["status"] == "confirmed"
        assert done["id"] == pending["id"] and done["tx_hash"] == pending["tx_hash"]
        assert api.chain_balance(citizen) == 1000 - 400
        assert api.chain_balance(shop) == 400
        api.close()


def _people_at_depth(api: Api, stack: Stack) -> tuple[str, str]:
    """`_people` on a chain that mines only on demand past the depth: blocks are mined while
    waiting for the registrations and the reward."""
    citizen, shop = fresh("cit"), fresh("shop")
    api.citizen(citizen)
    api.shop(shop, IBAN_BAKKER)

    def registered() -> bool:
        _mine(stack, 1)
        return all(api.request("GET", "/auth/me", u).json()["registered"] for u in (citizen, shop))

    poll(registered, "registrations at depth", 60, 0.2)
    ref = fresh("t-")
    api.do_task(ref, "10.00", citizen)
    assert api.approve(ref, by=COORDINATOR).status_code == 200

    def rewarded() -> bool:
        _mine(stack, 1)
        return bool(api.request("GET", f"/tasks/{ref}").json()["reward_status"] == "confirmed")

    poll(rewarded, "the reward at depth", 60, 0.2)
    return citizen, shop


def test_a_front_run_payment_is_done_with_the_real_hash(
    proxied: tuple[Stack, FaultProxy],
) -> None:
    """The defect: someone who submits the pending authorization first made the service
    answer 422, and paying again with a new key paid twice (50.00 -> 40.00 for 5.00)."""
    stack, proxy = proxied
    api = _api(stack)
    citizen, shop = _people(api, "50.00")
    proxy.faults.front_run = 1
    r = api.request(
        "POST", "/payments", citizen, json={"to": shop, "amount": "5.00"},
        headers={"Idempotency-Key": "once"},
    )  # fmt: skip
    assert proxy.faults.fired["front_run"] == 1
    assert r.status_code == 201, r.text
    paid = r.json()
    assert paid["status"] == "confirmed"
    receipt = stack.token.w3.eth.get_transaction_receipt(paid["tx_hash"])
    assert receipt["status"] == 1
    relayer = service_key(stack.paths.keys, "relayer").address
    assert receipt["from"] != relayer  # the front-runner's transaction, not the relayer's
    assert api.chain_balance(citizen) == 5000 - 500  # paid once
    assert api.chain_balance(shop) == 500
    api.close()


def test_concurrent_payments_by_one_payer_never_fail_with_5xx(module_stack: Stack) -> None:
    """The defect: 18 concurrent payments by one payer gave plain-text 500s and rows stuck
    pending. Balance 10.00, eighteen payments of 1.00: exactly ten go through."""
    api = _api(module_stack)
    citizen, shop = _people(api, "10.00")
    token = api.token(citizen)

    def pay(i: int) -> httpx.Response:
        with httpx.Client(base_url=module_stack.api_url, timeout=120) as c:
            return c.post(
                "/payments",
                json={"to": shop, "amount": "1.00"},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"c{i}"},
            )

    with ThreadPoolExecutor(max_workers=18) as pool:
        answers = list(pool.map(pay, range(18)))
    codes = sorted(r.status_code for r in answers)
    assert all(c in (201, 422) for c in codes), [(r.status_code, r.text) for r in answers]
    assert codes.count(201) == 10
    assert all(r.json()["code"] == "insufficient_balance" for r in answers if r.status_code == 422)
    assert api.chain_balance(citizen) == 0
    assert api.chain_balance(shop) == 1000
    for r in answers:  # nothing stays pending
        if r.status_code == 201:
            got = api.request("GET", f"/payments/{r.json()['id']}", citizen)
            assert got.json()["status"] == "confirmed"
    api.close()


def test_a_payment_interrupted_before_its_broadcast_is_finished_by_a_retry(
    stack: Stack,
) -> None:
    """The defect: a payment whose process died between recording and broadcast stayed
    `pending, tx_hash null` and burnt its Idempotency-Key."""
    api = _api(stack)
    citizen, shop = _people(api, "20.00")
    stack.restart_api(HEITJE_CRASH_AT="payment_after_record")
    api.tokens.clear()
    body: dict[str, Any] = {"to": shop, "amount": "3.00"}
    with pytest.raises(httpx.HTTPError):  # the API dies with the request in hand
        api.request("POST", "/payments", citizen, json=body, headers={"Idempotency-Key": "k"})
    assert api.chain_balance(citizen) == 2000  # nothing was sent
    stack.restart_api()
    api.tokens.clear()
    r = api.request("POST", "/payments", citizen, json=body, headers={"Idempotency-Key": "k"})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "confirmed" and r.json()["tx_hash"]
    again = api.request("POST", "/payments", citizen, json=body, headers={"Idempotency-Key": "k"})
    assert again.json()["id"] == r.json()["id"]
    assert api.chain_balance(citizen) == 2000 - 300  # once
    assert api.chain_balance(shop) == 300
    api.close()


def test_a_payment_nobody_retries_is_finished_by_the_service(stack: Stack) -> None:
    """Issue 8: a payment recorded by a process that then died, whose client never comes back,
    is finished by the service itself (`domain.follower`): no retry, and still paid once."""
    api = _api(stack)
    citizen, shop = _people(api, "20.00")
    stack.restart_api(HEITJE_CRASH_AT="payment_after_record")
    api.tokens.clear()
    body: dict[str, Any] = {"to": shop, "amount": "3.00"}
    with pytest.raises(httpx.HTTPError):  # the API dies with the request in hand
        api.request("POST", "/payments", citizen, json=body, headers={"Idempotency-Key": "k"})
    assert api.chain_balance(citizen) == 2000  # nothing was sent
    # Followed from 1 + 10 s after it was made (receipt timeout + FOLLOW_AFTER), every 5 s.
    stack.restart_api(HEITJE_RECEIPT_TIMEOUT="1")
    api.tokens.clear()
    poll(lambda: api.chain_balance(shop) == 300, "the service finishing the payment", 90)
    assert api.chain_balance(citizen) == 2000 - 300
    r = api.request("POST", "/payments", citizen, json=body, headers={"Idempotency-Key": "k"})
    assert r.status_code == 201 and r.json()["status"] == "confirmed", r.text
    assert api.chain_balance(citizen) == 2000 - 300  # once
    api.close()


def test_a_lost_relayer_transaction_does_not_jam_later_payments(
    proxied: tuple[Stack, FaultProxy],
) -> None:
    """The defect: a lost relayer transaction jammed later payments until the API
    restarted. The node loses the first payment's transaction; both payments go through."""
    stack, proxy = proxied
    api = _api(stack)
    citizen, shop = _people(api, "20.00")
    proxy.faults.drop = 1
    first = api.request(
        "POST", "/payments", citizen, json={"to": shop, "amount": "1.00"},
        headers={"Idempotency-Key": "a"},
    )  # fmt: skip
    second = api.request(
        "POST", "/payments", citizen, json={"to": shop, "amount": "2.00"},
        headers={"Idempotency-Key": "b"},
    )  # fmt: skip
    assert proxy.faults.fired["drop"] == 1
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    assert api.chain_balance(citizen) == 2000 - 300
    assert api.chain_balance(shop) == 300
    api.close()


def test_a_refused_mint_broadcast_is_sent_again(proxied: tuple[Stack, FaultProxy]) -> None:
    """The defect: the node refused `eth_sendRawTransaction` once (minter out of coin) and the
    mint stayed `sent` with a hash the node never saw, forever."""
    stack, proxy = proxied
    api = _api(stack)
    citizen = fresh("cit")
    api.citizen(citizen)
    api.wait_registered(citizen)
    ref = fresh("t-")
    api.do_task(ref, "7.00", citizen)
    proxy.faults.refuse = 1
    assert api.approve(ref, by=COORDINATOR).status_code == 200
    task = poll(
        lambda: (
            (t := api.request("GET", f"/tasks/{ref}").json())["reward_status"] == "confirmed" and t
        ),
        "the refused mint to be sent again",
        30,
    )
    assert proxy.faults.fired["refuse"] == 1
    assert task["reward_tx"]
    assert api.chain_balance(citizen) == 700
    api.close()


def test_a_node_that_goes_away_mid_request_is_503_not_500() -> None:
    """Chaos on the Clique network (issue 8): a validator killed while a request read the chain
    answered 500 `internal_error` three times. A connection error or time-out of the node,
    however wrapped, is 503 `chain_unavailable` (retry); our own faults stay 500."""
    import requests

    from api.errors import node_unreachable

    def wrapped(inner: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except BaseException as e:
                raise RuntimeError("web3 gave up") from e
        except RuntimeError as outer:
            return outer

    assert node_unreachable(wrapped(requests.exceptions.ConnectionError("refused")))
    assert node_unreachable(wrapped(requests.exceptions.ReadTimeout("slow")))
    assert not node_unreachable(wrapped(FileNotFoundError("keys/minter.key")))
    assert not node_unreachable(ValueError("a bug"))
