"""The API over real HTTP: a fresh anvil chain, the token, the indexer and the API (child process).

Each test runs one stack (yearly cap 100.00 HEIT, rehearsal clock) and groups related checks, since
a stack costs a couple of seconds. Every response is recorded: at the end of each test no body
may hold a custodial key, a password or a password hash, and every error body must be exactly
`{"code", "message"}`. Expected amounts are worked out by hand from the rules (1 HEIT = 100 base
units; citizens pay shops, shops refund citizens; cap per citizen per calendar year).
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidTag

from domain.security import open_custodial_key
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, IBAN_KAPPER, Api

ACCOUNT_FIELDS = {"username", "role", "name", "address", "registered"}
TOKEN_FIELDS = {"access_token", "token_type", "role", "expires_in"}
SHOP_FIELDS = {"username", "name", "category", "address"}
TASK_FIELDS = {
    "ref",
    "kind",
    "title",
    "reward",
    "neighbourhood",
    "status",
    "claimed_by",
    "reward_status",
    "reward_tx",
}
WALLET_FIELDS = {"username", "address", "balance", "as_of_block"}
PAYMENT_FIELDS = {"id", "payer", "payee", "amount", "status", "tx_hash"}
REDEMPTION_FIELDS = {"redemption_id", "amount", "tx_hash"}
HISTORY_FIELDS = {"kind", "amount", "counterparty", "block_number", "timestamp", "tx_hash"}


def code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["code"]


@pytest.fixture
def api(stack: Stack) -> Any:
    client = Api(stack)
    try:
        yield client
    finally:
        client.close()


# ----- accounts, authentication, roles, documentation -----


def test_sign_up_login_roles_and_no_secrets_in_responses(api: Api, stack: Stack) -> None:
    cit = api.citizen("anna")
    assert set(cit) == ACCOUNT_FIELDS
    assert cit["username"] == "anna" and cit["role"] == "citizen"
    assert cit["name"] == "Anna Jansen" and cit["registered"] is False
    assert cit["address"].startswith("0x") and len(cit["address"]) == 42

    shop = api.shop("bakker", IBAN_BAKKER.lower())  # case and spaces are normalised
    assert set(shop) == ACCOUNT_FIELDS
    assert shop["role"] == "shop" and shop["address"] != cit["address"]
    # Spaces inside an IBAN are fine too.
    assert api.shop("kapper", IBAN_KAPPER)["role"] == "shop"

    # Invalid IBAN: a wrong check digit, and one that is not an IBAN at all.
    for iban in ("NL92ABNA0417164300", "not an iban"):
        r = api.request(
            "POST",
            "/shops",
            json={
                "username": "slager",
                "password": "long-enough-pw",
                "name": "Slager",
                "iban": iban,
            },
        )
        assert code(r) == (422, "invalid_iban")
    # Duplicate usernames, across kinds too.
    r = api.request(
        "POST",
        "/citizens",
        json={"username": "anna", "password": "long-enough-pw", "name": "Other Anna"},
    )
    assert code(r) == (409, "username_taken")
    r = api.request(
        "POST",
        "/shops",
        json={
            "username": "anna",
            "password": "long-enough-pw",
            "name": "Anna's",
            "iban": IBAN_BAKKER,
        },
    )
    assert code(r) == (409, "username_taken")
    # Malformed input (missing field, short password) is `invalid_request`.
    assert code(api.request("POST", "/citizens", json={"username": "x"})) == (
        422,
        "invalid_request",
    )
    r = api.request(
        "POST", "/citizens", json={"username": "piet", "password": "short", "name": "Piet"}
    )
    assert code(r) == (422, "invalid_request")

    # The shop list shows only the public fields.
    shops = api.request("GET", "/shops").json()
    assert {s["username"] for s in shops} == {"bakker", "kapper"}
    assert all(set(s) == SHOP_FIELDS for s in shops)

    # Login.
    r = api.request(
        "POST", "/auth/token", json={"username": "anna", "password": api.passwords["anna"]}
    )
    assert r.status_code == 200 and set(r.json()) == TOKEN_FIELDS
    assert r.json()["role"] == "citizen" and r.json()["token_type"] == "bearer"
    r = api.request("POST", "/auth/token", json={"username": "anna", "password": "wrong-pw-1"})
    assert code(r) == (401, "invalid_credentials")
    r = api.request("POST", "/auth/token", json={"username": "nobody", "password": "wrong-pw-1"})
    assert code(r) == (401, "invalid_credentials")

    # No token, or a made-up one.
    for method, path in (("GET", "/wallet"), ("GET", "/auth/me"), ("POST", "/redemptions")):
        assert code(api.request(method, path, json={"amount": "1.00"})) == (401, "unauthorized")
    r = api.request("GET", "/wallet", headers={"Authorization": "Bearer made-up"})
    assert code(r) == (401, "unauthorized")

    # Roles.
    api.staff("coco", "coordinator")
    api.staff("audrey", "auditor")
    assert code(
        api.request(
            "POST",
            "/staff",
            "anna",
            json={"username": "evil", "password": "long-enough-pw", "name": "E", "role": "admin"},
        )
    ) == (403, "forbidden")
    assert code(
        api.request(
            "POST",
            "/staff",
            "coco",
            json={"username": "evil", "password": "long-enough-pw", "name": "E", "role": "admin"},
        )
    ) == (403, "forbidden")
    assert code(
        api.request(
            "POST",
            "/tasks",
            "anna",
            json={"ref": "t1", "kind": "k", "title": "t", "reward": "1.00"},
        )
    ) == (403, "forbidden")
    assert code(api.request("GET", "/audit/totals", "anna")) == (403, "forbidden")
    api.publish("t1", "15.00")
    assert code(api.request("POST", "/tasks/t1/claim", "coco")) == (403, "forbidden")
    assert code(api.request("POST", "/tasks/t1/claim", "bakker")) == (403, "forbidden")
    assert code(api.request("POST", "/tasks/t1/approve", "anna")) == (403, "forbidden")
    assert code(api.request("POST", "/redemptions", "anna", json={"amount": "1.00"})) == (
        403,
        "forbidden",
    )
    # Unknown routes and methods keep the error shape.
    assert code(api.request("GET", "/no-such-thing")) == (404, "not_found")
    assert code(api.request("DELETE", "/shops")) == (405, "method_not_allowed")

    # Once registered on chain, /auth/me says so; the chain knows the account kinds.
    api.wait_registered("anna", "bakker", "kapper")
    me = api.request("GET", "/auth/me", "anna").json()
    assert me == {
        "username": "anna",
        "role": "citizen",
        "name": "Anna Jansen",
        "address": cit["address"],
        "registered": True,
    }
    assert api.request("GET", "/auth/me", "coco").json()["address"] is None
    accounts = api.request("GET", "/audit/accounts", "audrey").json()
    assert {(a["username"], a["role"], a["address"], a["balance"]) for a in accounts} == {
        ("anna", "citizen", api.addresses["anna"], "0.00"),
        ("bakker", "shop", api.addresses["bakker"], "0.00"),
        ("kapper", "shop", api.addresses["kapper"], "0.00"),
    }

    # Logout ends the session.
    assert api.request("POST", "/auth/logout", "anna").status_code == 204
    assert code(api.request("GET", "/auth/me", "anna")) == (401, "unauthorized")

    api.check_responses()


def test_custodial_keys_are_encrypted_at_rest(api: Api, stack: Stack) -> None:
    api.citizen("anna")
    api.shop("bakker", IBAN_BAKKER)
    kek = base64.b64decode((stack.data_dir / "keys" / "kek.key").read_text().strip())
    assert len(kek) == 32
    db = sqlite3.connect(f"file:{stack.data_dir / 'service.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT u.username, k.address, k.nonce, k.ciphertext FROM custodial_keys k "
            "JOIN users u ON u.id = k.user_id ORDER BY u.username"
        ).fetchall()
        columns = {r[1] for r in db.execute("PRAGMA table_info(custodial_keys)")}
    finally:
        db.close()
    assert columns == {"user_id", "address", "nonce", "ciphertext"}
    assert [r[0] for r in rows] == ["anna", "bakker"]
    raw_keys = []
    for username, address, nonce, ciphertext in rows:
        assert address == api.addresses[username]
        account = open_custodial_key(kek, address, nonce, ciphertext)
        assert account.address == address
        raw = bytes(account.key)
        raw_keys.append(raw)
        assert len(nonce) == 12
        assert len(ciphertext) == 32 + 16  # key + AES-GCM tag
        assert raw not in ciphertext and raw.hex().encode() not in ciphertext
        # The address is the associated data: the ciphertext cannot be moved to another account.
        other = api.addresses["bakker" if username == "anna" else "anna"]
        with pytest.raises(InvalidTag):
            open_custodial_key(kek, other, nonce, ciphertext)
        # A different KEK cannot open it.
        with pytest.raises(InvalidTag):
            open_custodial_key(bytes(32), address, nonce, ciphertext)
    # Nowhere in the database files (main file and WAL), neither as bytes nor as hex.
    blobs = [p.read_bytes() for p in stack.data_dir.glob("service.sqlite*")]
    for raw in raw_keys:
        for blob in blobs:
            assert raw not in blob
            assert raw.hex().encode() not in blob.lower()
    # Nor in the service logs.
    for log in (stack.data_dir / "logs").glob("*.log"):
        text = log.read_text(errors="replace").lower()
        assert all(raw.hex() not in text for raw in raw_keys)
    api.check_responses()


def test_openapi_documents_every_route(api: Api) -> None:
    spec = api.request("GET", "/openapi.json").json()
    paths = spec["paths"]
    expected = {
        "/health": {"get"},
        "/auth/token": {"post"},
        "/auth/logout": {"post"},
        "/auth/me": {"get"},
        "/citizens": {"post"},
        "/shops": {"post", "get"},
        "/staff": {"post"},
        "/tasks": {"post", "get"},
        "/tasks/{ref}": {"get"},
        "/tasks/{ref}/claim": {"post"},
        "/tasks/{ref}/submit": {"post"},
        "/tasks/{ref}/approve": {"post"},
        "/tasks/{ref}/reject": {"post"},
        "/wallet": {"get"},
        "/wallet/history": {"get"},
        "/payments": {"post"},
        "/redemptions": {"post"},
        "/audit/totals": {"get"},
        "/audit/intents": {"get"},
        "/audit/accounts": {"get"},
        "/relay/transfer": {"post"},
        "/relay/redeem": {"post"},
        "/accounts/{username}/rotate-key": {"post"},
        "/citizens/{username}": {"delete"},
    }
    assert {p: set(ops) for p, ops in paths.items()} == expected
    for path, ops in paths.items():
        for method, op in ops.items():
            assert op.get("description", "").strip(), f"{method.upper()} {path} has no docstring"
    # The documented response models hold exactly the fields the responses carry.
    schemas = spec["components"]["schemas"]
    assert set(schemas["AccountPublic"]["properties"]) == ACCOUNT_FIELDS
    assert set(schemas["Token"]["properties"]) == TOKEN_FIELDS
    assert set(schemas["ShopPublic"]["properties"]) == SHOP_FIELDS
    assert set(schemas["TaskPublic"]["properties"]) == TASK_FIELDS
    assert set(schemas["WalletPublic"]["properties"]) == WALLET_FIELDS
    assert set(schemas["PaymentPublic"]["properties"]) == PAYMENT_FIELDS
    assert set(schemas["RedemptionPublic"]["properties"]) == REDEMPTION_FIELDS
    assert set(schemas["HistoryItem"]["properties"]) == HISTORY_FIELDS
    assert set(schemas["ErrorPublic"]["properties"]) == {"code", "message"}
    text = json.dumps(spec).lower()
    assert "password_hash" not in text and "ciphertext" not in text
    # The wallet pages are not part of the API.
    assert "/login" not in paths and "/pay" not in paths


# ----- tasks, rewards, the yearly cap -----


def test_task_lifecycle_mints_the_reward_once(api: Api, stack: Stack) -> None:
    api.staff("coco", "coordinator")
    api.citizen("anna")
    api.citizen("bram")
    api.wait_registered("anna", "bram")

    api.publish("bin-1", "15.00")
    r = api.request("GET", "/tasks/bin-1")
    assert r.status_code == 200 and set(r.json()) == TASK_FIELDS
    assert r.json() == {
        "ref": "bin-1",
        "kind": "paint-bin",
        "title": "Paint waste bin bin-1",
        "reward": "15.00",
        "neighbourhood": "Schandelen",
        "status": "open",
        "claimed_by": None,
        "reward_status": None,
        "reward_tx": None,
    }
    assert code(
        api.request(
            "POST",
            "/tasks",
            "coco",
            json={"ref": "bin-1", "kind": "k", "title": "t", "reward": "1.00"},
        )
    ) == (409, "task_already_published")
    assert code(
        api.request(
            "POST",
            "/tasks",
            "coco",
            json={"ref": "bin-x", "kind": "k", "title": "t", "reward": "1.005"},
        )
    ) == (422, "invalid_amount")
    assert code(api.approve("bin-1")) == (409, "task_not_submitted")
    assert code(api.request("GET", "/tasks/nope")) == (404, "task_not_found")

    r = api.request("POST", "/tasks/bin-1/claim", "anna")
    assert r.json()["status"] == "claimed" and r.json()["claimed_by"] == "anna"
    assert code(api.request("POST", "/tasks/bin-1/claim", "bram")) == (409, "task_not_open")
    assert code(api.request("POST", "/tasks/bin-1/submit", "bram")) == (403, "not_your_task")
    r = api.request("POST", "/tasks/bin-1/submit", "anna")
    assert r.json()["status"] == "submitted"

    r = api.approve("bin-1")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert r.json()["reward_status"] in {"pending", "sent", "confirmed"}
    task = api.wait_reward("bin-1")
    assert task["reward_tx"] is not None and task["reward_tx"].startswith("0x")
    receipt = stack.token.w3.eth.get_transaction_receipt(task["reward_tx"])
    assert receipt["status"] == 1

    # 15.00 HEIT = 1500 base units, on chain and (once caught up) in the mirror.
    assert api.chain_balance("anna") == 1500
    assert stack.token.total_minted() == 1500
    wallet = api.wallet_synced("anna")
    assert set(wallet) == WALLET_FIELDS
    assert wallet["balance"] == "15.00" and wallet["address"] == api.addresses["anna"]
    history = api.request("GET", "/wallet/history", "anna").json()
    assert [(h["kind"], h["amount"]) for h in history] == [("reward", "15.00")]
    assert set(history[0]) == HISTORY_FIELDS and history[0]["tx_hash"] == task["reward_tx"]

    # Approving again is refused and mints nothing.
    assert code(api.approve("bin-1")) == (409, "task_already_approved")
    api.publish("bin-2", "2.00")  # a later transaction, so the dispatcher had its chance
    time.sleep(0.5)
    assert stack.token.total_minted() == 1500
    assert api.chain_balance("anna") == 1500

    # A rejected task mints nothing either.
    api.do_task("bin-3", "7.00", "bram")
    r = api.request("POST", "/tasks/bin-3/reject", "coco")
    assert r.json()["status"] == "rejected" and r.json()["reward_status"] is None
    assert code(api.approve("bin-3")) == (409, "task_not_submitted")
    assert api.chain_balance("bram") == 0
    api.check_responses()


def test_yearly_cap_counts_per_citizen_per_calendar_year(api: Api, stack: Stack) -> None:
    api.staff("coco", "coordinator")
    api.citizen("anna")
    api.citizen("bram")
    api.wait_registered("anna", "bram")

    # 60.00 + 40.00 = 100.00: exactly the cap, allowed.
    api.reward("a-1", "60.00", "anna", at="2024-03-01T10:00:00+01:00")
    api.reward("a-2", "40.00", "anna", at="2024-12-31T22:00:00+01:00")
    assert api.chain_balance("anna") == 10_000

    # 100.00 + 0.01 passes the cap: refused, the task stays submitted, nothing minted.
    api.do_task("a-3", "0.01", "anna")
    r = api.approve("a-3", at="2024-12-31T23:59:00+01:00")
    assert code(r) == (422, "annual_cap_exceeded")
    task = api.request("GET", "/tasks/a-3").json()
    assert task["status"] == "submitted" and task["reward_status"] is None
    # Another citizen's cap is their own.
    api.reward("b-1", "30.00", "bram", at="2024-12-31T23:59:30+01:00")

    # The next calendar year (in the approval time's own offset: this instant is still
    # 2024 in UTC) starts again from zero.
    r = api.approve("a-3", at="2025-01-01T00:05:00+01:00")
    assert r.status_code == 200, r.text
    api.wait_reward("a-3")
    api.reward("a-4", "99.99", "anna", at="2025-02-01T12:00:00+01:00")  # 0.01 + 99.99 = 100.00
    api.do_task("a-5", "0.01", "anna")
    assert code(api.approve("a-5", at="2025-06-01T12:00:00+02:00")) == (422, "annual_cap_exceeded")

    # Business time must be ISO 8601 with an offset.
    assert code(api.approve("a-5", at="yesterday")) == (422, "invalid_time")
    assert code(api.approve("a-5", at="2025-06-01T12:00:00")) == (422, "invalid_time")

    # anna: 100.00 in 2024 + 100.00 in 2025; bram 30.00.
    assert api.chain_balance("anna") == 20_000
    assert api.chain_balance("bram") == 3_000
    assert stack.token.total_minted() == 23_000
    assert api.wallet_synced("anna")["balance"] == "200.00"
    api.check_responses()


# ----- payments, refunds, redemptions -----


def test_payments_refunds_and_redemptions(api: Api, stack: Stack) -> None:
    token = stack.token
    api.staff("coco", "coordinator")
    api.citizen("anna")
    api.citizen("bram")
    api.shop("bakker", IBAN_BAKKER)
    api.shop("kapper", IBAN_KAPPER)
    api.wait_registered("anna", "bram", "bakker", "kapper")
    api.reward("t-1", "20.00", "anna")
    assert api.chain_balance("anna") == 2000

    # anna pays bakker 4.50: anna 20.00 - 4.50 = 15.50, bakker 4.50.
    r = api.request("POST", "/payments", "anna", json={"to": "bakker", "amount": "4.50"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert set(p) == PAYMENT_FIELDS
    assert (p["payer"], p["payee"], p["amount"], p["status"]) == (
        "anna",
        "bakker",
        "4.50",
        "confirmed",
    )
    assert token.w3.eth.get_transaction_receipt(p["tx_hash"])["status"] == 1
    assert (api.chain_balance("anna"), api.chain_balance("bakker")) == (1550, 450)

    # bakker refunds anna 1.25: anna 16.75, bakker 3.25.
    r = api.request("POST", "/payments", "bakker", json={"to": "anna", "amount": "1.25"})
    assert r.status_code == 201, r.text
    assert (r.json()["payer"], r.json()["payee"], r.json()["amount"]) == ("bakker", "anna", "1.25")
    assert (api.chain_balance("anna"), api.chain_balance("bakker")) == (1675, 325)

    # Policy: only citizen -> shop and shop -> citizen.
    assert code(
        api.request("POST", "/payments", "anna", json={"to": "bram", "amount": "1.00"})
    ) == (422, "transfer_not_allowed")
    assert code(
        api.request("POST", "/payments", "bakker", json={"to": "kapper", "amount": "1.00"})
    ) == (422, "transfer_not_allowed")
    assert code(
        api.request("POST", "/payments", "anna", json={"to": "coco", "amount": "1.00"})
    ) == (422, "transfer_not_allowed")
    assert code(
        api.request("POST", "/payments", "anna", json={"to": "nobody", "amount": "1.00"})
    ) == (404, "unknown_account")

    # More than the balance (16.75): refused, nothing moves.
    supply = token.total_supply()
    r = api.request("POST", "/payments", "anna", json={"to": "bakker", "amount": "16.76"})
    assert code(r) == (422, "insufficient_balance")
    assert (api.chain_balance("anna"), api.chain_balance("bakker")) == (1675, 325)
    assert token.total_supply() == supply == 2000

    # Amounts that are not a positive decimal with at most two decimals.
    for bad in ("", "abc", "1.005", "0", "-1", "1e3", "0.00", " 1", "1,50", "+1"):
        r = api.request("POST", "/payments", "anna", json={"to": "bakker", "amount": bad})
        assert code(r) == (422, "invalid_amount"), bad
        r = api.request("POST", "/redemptions", "bakker", json={"amount": bad})
        assert code(r) == (422, "invalid_amount"), bad
    assert (api.chain_balance("anna"), api.chain_balance("bakker")) == (1675, 325)

    # Idempotency-Key: the same payment sent twice pays once (anna 14.75, bakker 5.25).
    key = {"Idempotency-Key": secrets.token_hex(8)}
    first = api.request(
        "POST", "/payments", "anna", json={"to": "bakker", "amount": "2.00"}, headers=key
    )
    again = api.request(
        "POST", "/payments", "anna", json={"to": "bakker", "amount": "2.00"}, headers=key
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert (api.chain_balance("anna"), api.chain_balance("bakker")) == (1475, 525)
    # With another key it is a new payment, sent at once by several clients it still pays
    # once: anna 14.25, bakker 5.75.
    tok = api.token("anna")
    other_key = secrets.token_hex(8)

    def send(_: int) -> httpx.Response:
        return httpx.post(
            f"{stack.api_url}/payments",
            json={"to": "bakker", "amount": "0.50"},
            headers={"Authorization": f"Bearer {tok}", "Idempotency-Key": other_key},
            timeout=60,
        )

    with ThreadPoolExecutor(4) as pool:
        others = list(pool.map(send, range(4)))
    assert [r.status_code for r in others] == [201] * 4, [r.text for r in others]
    assert len({r.json()["id"] for r in others}) == 1
    assert others[0].json()["id"] != first.json()["id"]
    assert (api.chain_balance("anna"), api.chain_balance("bakker")) == (1425, 575)
    # A refused payment retried with its key is refused again, even when the retry could pay.
    refused_key = {"Idempotency-Key": secrets.token_hex(8)}
    r = api.request(
        "POST", "/payments", "anna", json={"to": "bakker", "amount": "20.00"}, headers=refused_key
    )
    assert code(r) == (422, "insufficient_balance")
    r = api.request(
        "POST", "/payments", "anna", json={"to": "bakker", "amount": "1.00"}, headers=refused_key
    )
    assert code(r) == (422, "insufficient_balance")
    assert (api.chain_balance("anna"), api.chain_balance("bakker")) == (1425, 575)

    # Redemptions: ids count from 1, the HEIT are burned.
    r1 = api.request("POST", "/redemptions", "bakker", json={"amount": "1.00"})
    r2 = api.request("POST", "/redemptions", "bakker", json={"amount": "2.25"})
    assert r1.status_code == r2.status_code == 201, (r1.text, r2.text)
    assert set(r1.json()) == REDEMPTION_FIELDS
    assert (r1.json()["redemption_id"], r1.json()["amount"]) == (1, "1.00")
    assert (r2.json()["redemption_id"], r2.json()["amount"]) == (2, "2.25")
    # bakker 5.75 - 1.00 - 2.25 = 2.50; supply 20.00 - 3.25 = 16.75.
    assert api.chain_balance("bakker") == 250
    assert token.total_redeemed() == 325
    assert token.total_supply() == 1675
    assert token.redemption_count() == 2
    shop_1, _, amount_1 = token.redemption(1)
    shop_2, _, amount_2 = token.redemption(2)
    assert (shop_1, amount_1) == (api.addresses["bakker"], 100)
    assert (shop_2, amount_2) == (api.addresses["bakker"], 225)
    assert code(api.request("POST", "/redemptions", "anna", json={"amount": "1.00"})) == (
        403,
        "forbidden",
    )
    r = api.request("POST", "/redemptions", "bakker", json={"amount": "2.51"})
    assert code(r) == (422, "insufficient_balance")
    assert token.redemption_count() == 2 and api.chain_balance("bakker") == 250

    # The mirror agrees once it caught up.
    assert api.wallet_synced("anna")["balance"] == "14.25"
    assert api.wallet_synced("bakker")["balance"] == "2.50"
    history = api.request("GET", "/wallet/history", "anna").json()
    assert sorted((h["kind"], h["amount"], h["counterparty"]) for h in history) == sorted(
        [
            ("reward", "20.00", None),
            ("sent", "4.50", "bakker"),
            ("received", "1.25", "bakker"),
            ("sent", "2.00", "bakker"),
            ("sent", "0.50", "bakker"),
        ]
    )
    totals = api.request("GET", "/audit/totals", "coco")
    assert code(totals) == (403, "forbidden")
    api.check_responses()
