"""Money in flight, seen from outside: health and reading one's own writes, on real anvil stacks.

Health: `GET /health` and `heitje status` report the chain, the indexer's lag, the outbox
backlog and each service key's native balance, and fail (503, exit 1) with the reasons when one
is out of bounds; with the indexer stopped they used to say ok while wallets went stale.

Read your own writes: a payment's answer carries its `block_number`; a wallet read with
`min_block` set to it shows the payment, every time (plain reads right after a payment showed
the old balance), or 503 `mirror_behind` after a bounded wait; the wallet page does the same.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web3.types import Wei

from indexer.mirror import Mirror
from node.keys import SERVICE_ROLES, service_key
from node.signer import Signer
from scripts.stack import Stack, start_stack
from tests.apiclient import IBAN_BAKKER, Api
from tests.conftest import TEST_ENV, fresh, poll, run_heitje

READ_WAIT = 1.0
"""HEITJE_READ_WAIT of this module's shared stack: how long a `min_block` read waits."""

MAX_LAG = 10
"""HEITJE_MAX_INDEXER_LAG_BLOCKS by default."""


def health(stack: Stack) -> httpx.Response:
    return httpx.get(stack.api_url + "/health", timeout=60)


def codes(body: dict[str, Any]) -> list[str]:
    return [r["code"] for r in body["reasons"]]


def mirror_checkpoint(stack: Stack) -> int:
    with Mirror(stack.paths.mirror_db) as mirror:
        block = mirror.checkpoint_block()
    assert block is not None
    return block


def wait_for_mirror(stack: Stack) -> int:
    """Wait until the mirror holds the chain's current head; that head."""
    head = int(stack.token.w3.eth.block_number)
    poll(lambda: mirror_checkpoint(stack) >= head, f"the mirror to reach block {head}")
    return head


def heitje_status(stack: Stack, *args: str) -> Any:
    return run_heitje(
        "status", "--data-dir", str(stack.data_dir), "--rpc-url", stack.rpc_url, *args
    )


# ----- the module's shared stack: a shop, and citizens with a reward to pay with -----


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {**TEST_ENV, "HEITJE_READ_WAIT": str(READ_WAIT)}
    with start_stack(tmp_path_factory.mktemp("stack") / "data", env=env) as s:
        yield s


@pytest.fixture(scope="module")
def api(shared: Stack) -> Iterator[Api]:
    client = Api(shared)
    client.staff("coco", "coordinator")
    client.shop("bakker", IBAN_BAKKER)
    client.wait_registered("bakker")
    try:
        yield client
        client.check_responses()
    finally:
        client.close()


@pytest.fixture
def citizen(api: Api) -> str:
    """A fresh citizen holding 25.00 HEIT (a confirmed reward)."""
    name = fresh("rw")
    api.citizen(name)
    api.wait_registered(name)
    api.reward(fresh("rw-task-"), "25.00", name)
    return name


def pay(api: Api, citizen: str, amount: str) -> dict[str, Any]:
    r = api.request("POST", "/payments", citizen, json={"to": "bakker", "amount": amount})
    assert r.status_code == 201, r.text
    return dict(r.json())


# ----- health on a healthy stack -----


def test_health_is_ok_on_a_fresh_stack(shared: Stack) -> None:
    head = wait_for_mirror(shared)
    r = health(shared)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["status"] == "ok" and body["reasons"] == []
    assert body["instance"]
    assert body["chain"]["reachable"] is True
    assert body["chain"]["head"] >= head
    assert body["chain"]["chain_id"] == int(shared.token.w3.eth.chain_id)
    assert body["indexer"]["checkpoint"] >= head
    assert body["indexer"]["lag_blocks"] == 0
    assert body["indexer"]["confirmations"] == 0
    assert body["dispatcher"]["ok"] is True
    assert [k["role"] for k in body["keys"]] == list(SERVICE_ROLES)
    for key in body["keys"]:
        assert key["address"] == service_key(shared.paths.keys, key["role"]).address
        assert int(key["balance_wei"]) >= int(key["min_balance_wei"]) == 10**16
        assert key["ok"] is True


def test_health_live_answers_with_the_same_instance(shared: Stack) -> None:
    r = httpx.get(shared.api_url + "/health/live", timeout=60)
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "instance": health(shared).json()["instance"]}


# ----- a stopped indexer -----


@pytest.fixture(scope="module")
def stalled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose indexer stopped, with more blocks mined since than the lag allows."""
    with start_stack(tmp_path_factory.mktemp("stalled") / "data", env=TEST_ENV) as s:
        wait_for_mirror(s)
        s.indexer.stop()
        s.token.w3.provider.make_request("anvil_mine", [MAX_LAG + 2])  # type: ignore[arg-type]
        yield s


def test_health_fails_when_the_indexer_stopped(stalled: Stack) -> None:
    w3 = stalled.token.w3
    head = int(w3.eth.block_number)
    checkpoint = mirror_checkpoint(stalled)
    r = health(stalled)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["ok"] is False and body["status"] == "fail"
    assert codes(body) == ["indexer_lagging"]
    assert body["indexer"]["ok"] is False
    assert body["indexer"]["checkpoint"] == checkpoint
    assert body["indexer"]["lag_blocks"] == head - checkpoint > MAX_LAG
    block_time = int(w3.eth.get_block(head)["timestamp"]) - int(
        w3.eth.get_block(checkpoint)["timestamp"]
    )
    assert body["indexer"]["lag_seconds"] == block_time
    assert str(checkpoint) in body["reasons"][0]["message"]


def test_status_json_gives_the_same_checks_and_exit_1(stalled: Stack) -> None:
    served = health(stalled).json()
    result = heitje_status(stalled, "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == set(served) - {"instance"}
    assert codes(report) == codes(served) == ["indexer_lagging"]
    assert report["indexer"] == served["indexer"]
    assert report["keys"] == served["keys"]
    assert report["chain"]["head"] == served["chain"]["head"]


def test_status_prints_one_line_per_check(stalled: Stack) -> None:
    result = heitje_status(stalled)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OK") and "chain" in lines[0]
    assert lines[1].startswith("FAIL") and "indexer" in lines[1]
    assert lines[2].startswith("OK") and "dispatcher" in lines[2]
    assert [line.split()[2] for line in lines[3 : 3 + len(SERVICE_ROLES)]] == list(SERVICE_ROLES)
    assert "status: FAIL (indexer_lagging)" in result.stdout


def test_status_of_a_directory_without_a_deployment_is_refused(tmp_path: Path) -> None:
    result = run_heitje("status", "--data-dir", str(tmp_path / "nothing"), cwd=tmp_path)
    assert result.returncode == 2
    assert "deployment.json" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "nothing").exists()


# ----- a chain that does not answer -----


def test_health_fails_when_the_chain_is_down(stack: Stack) -> None:
    wait_for_mirror(stack)
    assert stack.chain is not None
    stack.chain.stop()
    r = health(stack)
    assert r.status_code == 503, r.text
    body = r.json()
    assert codes(body) == ["chain_unreachable"]
    assert body["chain"] == {
        "ok": False,
        "reachable": False,
        "chain_id": None,
        "head": None,
        "head_age_seconds": None,
    }
    assert body["indexer"]["checkpoint"] is not None and body["indexer"]["ok"] is None
    assert all(k["ok"] is None and k["balance_wei"] is None for k in body["keys"])


# ----- a service key running dry -----


def test_a_drained_service_key_is_reported_by_role(stack: Stack) -> None:
    w3 = stack.token.w3
    settler = service_key(stack.paths.keys, "settler")
    sink = service_key(stack.paths.keys, "pauser").address
    keep = 10**15  # 0.001 ETH, below the 0.01 ETH threshold once the gas is paid
    signer = Signer(w3, settler, stack.paths.nonce_journal)
    signer.transact({"to": sink, "value": Wei(int(w3.eth.get_balance(settler.address)) - keep)})
    assert int(w3.eth.get_balance(settler.address)) < 10**16
    wait_for_mirror(stack)
    r = health(stack)
    assert r.status_code == 503, r.text
    body = r.json()
    assert codes(body) == ["key_low_balance"]
    assert "settler" in body["reasons"][0]["message"]
    entry = next(k for k in body["keys"] if k["role"] == "settler")
    assert entry["ok"] is False
    assert entry["address"] == settler.address
    assert int(entry["balance_wei"]) == int(w3.eth.get_balance(settler.address))
    assert all(k["ok"] for k in body["keys"] if k["role"] != "settler")


# ----- an outbox that does not drain -----


def test_an_outbox_intent_left_open_is_reported(stack: Stack) -> None:
    stack.restart_api(HEITJE_DISPATCHER="false", HEITJE_MAX_BACKLOG_AGE="1")
    api = Api(stack)
    try:
        api.citizen(fresh("waiting"))  # its registration waits for a dispatcher
        time.sleep(2)
        r = health(stack)
    finally:
        api.close()
    assert r.status_code == 503, r.text
    body = r.json()
    assert codes(body) == ["dispatcher_backlog"]
    assert body["dispatcher"]["open_intents"] == 1
    assert body["dispatcher"]["oldest_age_seconds"] >= 1


# ----- reading one's own writes -----


def test_a_payment_answer_carries_its_tx_hash_and_block(api: Api, citizen: str) -> None:
    p = pay(api, citizen, "1.00")
    receipt = api.stack.token.w3.eth.get_transaction_receipt(p["tx_hash"])
    assert p["block_number"] == int(receipt["blockNumber"])


def test_reads_with_min_block_always_show_the_payment(api: Api, citizen: str) -> None:
    p = pay(api, citizen, "7.50")
    seen = [
        api.request("GET", f"/wallet?min_block={p['block_number']}", citizen) for _ in range(20)
    ]
    assert [r.status_code for r in seen] == [200] * 20
    assert [r.json()["balance"] for r in seen] == ["17.50"] * 20
    assert all(r.json()["as_of_block"] >= p["block_number"] for r in seen)


def test_history_with_min_block_shows_the_payment(api: Api, citizen: str) -> None:
    p = pay(api, citizen, "2.00")
    r = api.request("GET", f"/wallet/history?min_block={p['block_number']}", citizen)
    assert r.status_code == 200, r.text
    newest = r.json()[0]
    assert (newest["kind"], newest["tx_hash"], newest["amount"]) == ("sent", p["tx_hash"], "2.00")


def test_min_block_past_the_mirror_is_503_after_the_bounded_wait(api: Api, citizen: str) -> None:
    future = int(api.stack.token.w3.eth.block_number) + 1000
    start = time.monotonic()
    r = api.request("GET", f"/wallet?min_block={future}", citizen)
    took = time.monotonic() - start
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "mirror_behind"
    assert str(future) in r.json()["message"]
    assert READ_WAIT <= took < READ_WAIT + 10


def test_negative_min_block_is_refused(api: Api, citizen: str) -> None:
    for path in ("/wallet", "/wallet/history"):
        r = api.request("GET", f"{path}?min_block=-1", citizen)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "invalid_request"


def test_the_wallet_page_after_paying_shows_the_new_balance(api: Api, citizen: str) -> None:
    with httpx.Client(base_url=api.stack.api_url, timeout=60) as browser:
        form = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/").text)
        assert form is not None  # the login form's token (its cookie lands in `browser`)
        login = {"username": citizen, "password": api.passwords[citizen]}
        r = browser.post("/login", data=login | {"csrf_token": form.group(1)})
        assert r.status_code == 303
        page = browser.get("/").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        before = int(api.stack.token.w3.eth.block_number)
        r = browser.post(
            "/pay", data={"to": "bakker", "amount": "5.00", "csrf_token": csrf.group(1)}
        )
        assert r.status_code == 303
        location = r.headers["location"]
        block = re.search(r"[?&]min_block=(\d+)", location)
        assert block is not None, location
        assert before < int(block.group(1)) <= int(api.stack.token.w3.eth.block_number)
        page = browser.get(location).text
    balance = re.search(r'id="balance">([^<]*)<', page)
    assert balance is not None
    assert balance.group(1) == "20,00 munten"
