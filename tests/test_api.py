"""The API over real HTTP: a real anvil chain, the token, the indexer and the API (child process).

All tests of this module share one stack (`module_stack`: yearly cap 100.00 HEIT, rehearsal
clock) and check one behaviour each. Everyone a test signs up has a fresh name, and every
task a fresh ref, so the tests do not depend on each other or on their order; the people of
`people` are signed up once, and tests only read them, let them claim tasks or see them
refused: their balances never change after set-up. Chain totals are compared as differences
over a test. Every response is recorded: at the end of
each test no body may hold a custodial key, a password or a password hash, and every error
body must be exactly `{"code", "message"}`. Expected amounts are worked out by hand from the
rules (1 HEIT = 100 base units; citizens pay shops, shops refund citizens; cap per citizen per
calendar year).
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from cryptography.exceptions import InvalidTag

from domain.security import open_custodial_key
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, IBAN_KAPPER, Api
from tests.conftest import fresh

ACCOUNT_FIELDS = {"username", "role", "name", "address", "registered"}
SIGNED_UP_FIELDS = ACCOUNT_FIELDS | {"access_token", "token_type", "expires_in"}
"""A sign-up's answer: the account and a session of it (tests/test_signup_session.py)."""
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
    "reward_error",
    "approvals",
    "approvals_needed",
    "place",
    "deadline",
    "materials",
    "rejection_reason",
    "description",
    "estimated_minutes",
    "people",
    "withdrawal_reason",
}
WALLET_FIELDS = {"username", "address", "balance", "as_of_block"}
PAYMENT_FIELDS = {
    "id",
    "payer",
    "payee",
    "amount",
    "status",
    "tx_hash",
    "block_number",
    "refund_of",
}
REDEMPTION_FIELDS = {"redemption_id", "amount", "tx_hash", "block_number", "status"}
HISTORY_FIELDS = {"kind", "amount", "counterparty", "block_number", "timestamp", "tx_hash"}


def code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["code"]


@dataclass
class People:
    """Accounts signed up once for the module whose balances the tests never change: staff,
    two citizens and two shops holding nothing, and `rich` (rewarded 20.00, paid `till` 5.00:
    rich 15.00, till 5.00). All registered on chain, the mirror caught up."""

    api: Api
    coco: str
    audrey: str
    anna: str
    bram: str
    bakker: str
    kapper: str
    rich: str
    till: str

    def all(self) -> set[str]:
        return {
            self.coco, self.audrey, self.anna, self.bram,
            self.bakker, self.kapper, self.rich, self.till,
        }  # fmt: skip


@pytest.fixture(scope="module")
def people(module_stack: Stack) -> Iterator[People]:
    p = People(
        Api(module_stack),
        coco=fresh("coco"),
        audrey=fresh("audrey"),
        anna=fresh("anna"),
        bram=fresh("bram"),
        bakker=fresh("bakker"),
        kapper=fresh("kapper"),
        rich=fresh("rich"),
        till=fresh("till"),
    )
    api = p.api
    api.staff(p.coco, "coordinator")
    api.staff(p.audrey, "auditor")
    api.coordinator, api.auditor = p.coco, p.audrey
    for citizen in (p.anna, p.bram, p.rich):
        api.citizen(citizen)
    api.shop(p.bakker, IBAN_BAKKER)
    api.shop(p.kapper, IBAN_KAPPER)
    api.shop(p.till, IBAN_BAKKER)
    api.wait_registered(p.anna, p.bram, p.bakker, p.kapper, p.rich, p.till)
    api.reward(fresh("rich-"), "20.00", p.rich)
    r = api.request("POST", "/payments", p.rich, json={"to": p.till, "amount": "5.00"})
    assert r.status_code == 201, r.text
    assert (api.chain_balance(p.rich), api.chain_balance(p.till)) == (1500, 500)
    assert api.wallet_synced(p.rich)["balance"] == "15.00"
    yield p
    api.check_responses()
    api.close()


@pytest.fixture
def api(people: People, module_stack: Stack) -> Iterator[Api]:
    """A client of the module's stack that knows `people` (logged in), the coordinator and the
    auditor."""
    client = Api(module_stack, coordinator=people.coco, auditor=people.audrey, known=people.api)
    try:
        yield client
    finally:
        client.close()


def registered(api: Api, *citizens: str, shops: tuple[str, ...] = ()) -> None:
    """Sign up `citizens` and `shops` (bakery IBAN) and wait until the chain knows them."""
    for citizen in citizens:
        api.citizen(citizen)
    for shop in shops:
        api.shop(shop, IBAN_BAKKER)
    api.wait_registered(*citizens, *shops)


def rewarded(api: Api, citizen: str, amount: str) -> None:
    """`citizen` earns `amount` for a task of its own."""
    api.reward(fresh("task-"), amount, citizen)


# ----- sign-up -----


def test_a_citizen_signs_up_and_gets_a_wallet_address(api: Api) -> None:
    anna = fresh("anna")
    cit = api.citizen(anna)
    assert set(cit) == SIGNED_UP_FIELDS
    assert cit["username"] == anna and cit["role"] == "citizen"
    assert cit["name"] == f"{anna.title()} Jansen" and cit["registered"] is False
    assert cit["address"].startswith("0x") and len(cit["address"]) == 42
    api.check_responses()


def test_a_shop_signs_up_with_its_iban_normalised(api: Api, people: People) -> None:
    bakker, kapper = fresh("bakker"), fresh("kapper")
    shop = api.shop(bakker, IBAN_BAKKER.lower())  # case and spaces are normalised
    assert set(shop) == SIGNED_UP_FIELDS
    assert shop["role"] == "shop" and shop["address"] != api.addresses[people.anna]
    # Spaces inside an IBAN are fine too.
    assert api.shop(kapper, IBAN_KAPPER)["role"] == "shop"
    api.check_responses()


def test_an_invalid_iban_is_refused(api: Api) -> None:
    # A wrong check digit, and one that is not an IBAN at all.
    for iban in ("NL92ABNA0417164300", "not an iban"):
        r = api.request(
            "POST",
            "/shops",
            json={
                "username": fresh("slager"),
                "password": "long-enough-pw",
                "name": "Slager",
                "iban": iban,
            },
        )
        assert code(r) == (422, "invalid_iban")
    api.check_responses()


def test_a_username_is_taken_across_kinds(api: Api, people: People) -> None:
    r = api.request(
        "POST",
        "/citizens",
        json={"username": people.anna, "password": "long-enough-pw", "name": "Other Anna"},
    )
    assert code(r) == (409, "username_taken")
    r = api.request(
        "POST",
        "/shops",
        json={
            "username": people.anna,
            "password": "long-enough-pw",
            "name": "Anna's",
            "iban": IBAN_BAKKER,
        },
    )
    assert code(r) == (409, "username_taken")
    api.check_responses()


def test_malformed_sign_up_is_an_invalid_request(api: Api) -> None:
    # A missing field, a short password.
    assert code(api.request("POST", "/citizens", json={"username": fresh("x")})) == (
        422,
        "invalid_request",
    )
    r = api.request(
        "POST", "/citizens", json={"username": fresh("piet"), "password": "short", "name": "Piet"}
    )
    assert code(r) == (422, "invalid_request")
    api.check_responses()


def test_the_shop_list_shows_shops_only_with_public_fields(api: Api, people: People) -> None:
    shops = api.request("GET", "/shops").json()
    # Of the module's people only the shops are listed (no citizens, no staff).
    listed = {s["username"] for s in shops}
    assert listed & people.all() == {people.bakker, people.kapper, people.till}
    assert all(set(s) == SHOP_FIELDS for s in shops)
    api.check_responses()


# ----- authentication -----


def test_login_gives_a_bearer_token_for_the_right_password(api: Api, people: People) -> None:
    anna = people.anna
    r = api.request("POST", "/auth/token", json={"username": anna, "password": api.passwords[anna]})
    assert r.status_code == 200 and set(r.json()) == TOKEN_FIELDS
    assert r.json()["role"] == "citizen" and r.json()["token_type"] == "bearer"
    r = api.request("POST", "/auth/token", json={"username": anna, "password": "wrong-pw-1"})
    assert code(r) == (401, "invalid_credentials")
    r = api.request("POST", "/auth/token", json={"username": "nobody", "password": "wrong-pw-1"})
    assert code(r) == (401, "invalid_credentials")
    api.check_responses()


def test_no_token_or_a_made_up_one_is_unauthorized(api: Api) -> None:
    for method, path in (("GET", "/wallet"), ("GET", "/auth/me"), ("POST", "/redemptions")):
        assert code(api.request(method, path, json={"amount": "1.00"})) == (401, "unauthorized")
    r = api.request("GET", "/wallet", headers={"Authorization": "Bearer made-up"})
    assert code(r) == (401, "unauthorized")
    api.check_responses()


def test_logout_ends_the_session(api: Api) -> None:
    anna = fresh("anna")
    api.citizen(anna)
    assert api.request("GET", "/auth/me", anna).status_code == 200
    assert api.request("POST", "/auth/logout", anna).status_code == 204
    assert code(api.request("GET", "/auth/me", anna)) == (401, "unauthorized")
    api.check_responses()


# ----- roles, routes, registration, documentation -----


def test_each_role_does_only_its_own_work(api: Api, people: People) -> None:
    anna, bakker, coco = people.anna, people.bakker, people.coco
    evil = {"username": fresh("evil"), "password": "long-enough-pw", "name": "E", "role": "admin"}
    assert code(api.request("POST", "/staff", anna, json=evil)) == (403, "forbidden")
    assert code(api.request("POST", "/staff", coco, json=evil)) == (403, "forbidden")
    ref = fresh("t")
    assert code(
        api.request(
            "POST",
            "/tasks",
            anna,
            json={"ref": ref, "kind": "k", "title": "t", "reward": "1.00"},
        )
    ) == (403, "forbidden")
    assert code(api.request("GET", "/audit/totals", anna)) == (403, "forbidden")
    assert code(api.request("GET", "/audit/totals", coco)) == (403, "forbidden")
    api.publish(ref, "15.00")
    assert code(api.request("POST", f"/tasks/{ref}/claim", coco)) == (403, "forbidden")
    assert code(api.request("POST", f"/tasks/{ref}/claim", bakker)) == (403, "forbidden")
    assert code(api.request("POST", f"/tasks/{ref}/approve", anna)) == (403, "forbidden")
    assert code(api.request("POST", "/redemptions", anna, json={"amount": "1.00"})) == (
        403,
        "forbidden",
    )
    api.check_responses()


def test_unknown_routes_and_methods_keep_the_error_shape(api: Api) -> None:
    assert code(api.request("GET", "/no-such-thing")) == (404, "not_found")
    assert code(api.request("DELETE", "/shops")) == (405, "method_not_allowed")
    api.check_responses()


def test_registered_accounts_show_in_me_and_the_audit(api: Api, people: People) -> None:
    # Once registered on chain, /auth/me says so; staff have no address.
    anna = people.anna
    me = api.request("GET", "/auth/me", anna).json()
    assert me == {
        "username": anna,
        "role": "citizen",
        "name": f"{anna.title()} Jansen",
        "address": api.addresses[anna],
        "registered": True,
    }
    assert api.request("GET", "/auth/me", people.coco).json()["address"] is None
    # The auditor sees citizens and shops (not staff) with their mirrored balances.
    accounts = api.request("GET", "/audit/accounts", people.audrey).json()
    assert {
        (a["username"], a["role"], a["address"], a["balance"])
        for a in accounts
        if a["username"] in people.all()
    } == {
        (people.anna, "citizen", api.addresses[people.anna], "0.00"),
        (people.bram, "citizen", api.addresses[people.bram], "0.00"),
        (people.rich, "citizen", api.addresses[people.rich], "15.00"),
        (people.bakker, "shop", api.addresses[people.bakker], "0.00"),
        (people.kapper, "shop", api.addresses[people.kapper], "0.00"),
        (people.till, "shop", api.addresses[people.till], "5.00"),
    }
    api.check_responses()


def test_custodial_keys_are_encrypted_at_rest(
    api: Api, people: People, module_stack: Stack
) -> None:
    stack = module_stack
    anna, bakker = people.anna, people.bakker
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
    assert columns == {"user_id", "address", "nonce", "ciphertext", "key_id"}
    rows = [r for r in rows if r[0] in (anna, bakker)]
    assert [r[0] for r in rows] == [anna, bakker]
    raw_keys = []
    for username, address, nonce, ciphertext in rows:
        assert address == api.addresses[username]
        assert api.request("GET", "/auth/me", username).json()["address"] == address
        account = open_custodial_key(kek, address, nonce, ciphertext)
        assert account.address == address
        raw = bytes(account.key)
        raw_keys.append(raw)
        assert len(nonce) == 12
        assert len(ciphertext) == 32 + 16  # key + AES-GCM tag
        assert raw not in ciphertext and raw.hex().encode() not in ciphertext
        # The address is the associated data: the ciphertext cannot be moved to another account.
        other = api.addresses[bakker if username == anna else anna]
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
        "/auth/logout-all": {"post"},
        "/auth/me": {"get"},
        "/citizens": {"post"},
        "/shops": {"post", "get"},
        "/admin/shops": {"get"},
        "/admin/shops/{username}/approve": {"post"},
        "/admin/shops/{username}/reject": {"post"},
        "/staff": {"post"},
        "/staff/{username}/disable": {"post"},
        "/staff/{username}/enable": {"post"},
        "/tasks": {"post", "get"},
        "/tasks/{ref}": {"get", "patch"},
        "/tasks/{ref}/withdraw": {"post"},
        "/tasks/{ref}/claim": {"post"},
        "/tasks/{ref}/give-back": {"post"},
        "/tasks/{ref}/submit": {"post"},
        "/tasks/{ref}/proof": {"post", "get"},
        "/tasks/{ref}/proof/{n}": {"get"},
        "/tasks/{ref}/approve": {"post"},
        "/tasks/approvals": {"post"},
        "/tasks/{ref}/reject": {"post"},
        "/wallet": {"get"},
        "/wallet/history": {"get"},
        "/payments": {"post"},
        "/payments/received": {"get"},
        "/payments/{payment_id}": {"get"},
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


# ----- tasks and rewards -----


def test_a_published_task_is_open(api: Api) -> None:
    ref = fresh("bin-")
    api.publish(ref, "15.00")
    r = api.request("GET", f"/tasks/{ref}")
    assert r.status_code == 200 and set(r.json()) == TASK_FIELDS
    assert r.json() == {
        "ref": ref,
        "kind": "paint-bin",
        "title": f"Paint waste bin {ref}",
        "reward": "15.00",
        "neighbourhood": "Schandelen",
        "status": "open",
        "claimed_by": None,
        "reward_status": None,
        "reward_tx": None,
        "reward_error": None,
        "approvals": 0,
        "approvals_needed": 1,  # the test stacks have no four-eyes threshold (TEST_ENV)
        "place": "",  # published without the task details (tests/test_task_pages.py has them)
        "deadline": None,
        "materials": "",
        "rejection_reason": None,
        "description": "",  # issue 11: optional in POST /tasks
        "estimated_minutes": None,
        "people": 1,
        "withdrawal_reason": None,
    }
    api.check_responses()


def test_a_task_is_published_once_with_a_reward_in_whole_cents(api: Api) -> None:
    ref = fresh("bin-")
    api.publish(ref, "15.00")
    assert code(
        api.request(
            "POST",
            "/tasks",
            api.coordinator,
            json={"ref": ref, "kind": "k", "title": "t", "reward": "1.00"},
        )
    ) == (409, "task_already_published")
    assert code(
        api.request(
            "POST",
            "/tasks",
            api.coordinator,
            json={"ref": fresh("bin-"), "kind": "k", "title": "t", "reward": "1.005"},
        )
    ) == (422, "invalid_amount")
    api.check_responses()


def test_only_a_submitted_task_is_approved_and_unknown_tasks_are_not_found(api: Api) -> None:
    ref = fresh("bin-")
    api.publish(ref, "15.00")
    assert code(api.approve(ref)) == (409, "task_not_submitted")
    assert code(api.request("GET", f"/tasks/{fresh('nope')}")) == (404, "task_not_found")
    api.check_responses()


def test_a_claimed_task_is_the_claimants_to_submit(api: Api, people: People) -> None:
    anna, bram, ref = people.anna, people.bram, fresh("bin-")
    api.publish(ref, "15.00")
    r = api.request("POST", f"/tasks/{ref}/claim", anna)
    assert r.json()["status"] == "claimed" and r.json()["claimed_by"] == anna
    assert code(api.request("POST", f"/tasks/{ref}/claim", bram)) == (409, "task_not_open")
    assert code(api.request("POST", f"/tasks/{ref}/submit", bram)) == (403, "not_your_task")
    r = api.request("POST", f"/tasks/{ref}/submit", anna)
    assert r.json()["status"] == "submitted"
    api.check_responses()


def test_approval_mints_the_reward_once(api: Api, module_stack: Stack) -> None:
    token = module_stack.token
    anna, ref = fresh("anna"), fresh("bin-")
    registered(api, anna)
    api.do_task(ref, "15.00", anna)
    minted = token.total_minted()

    r = api.approve(ref)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert r.json()["reward_status"] in {"pending", "sent", "confirmed"}
    task = api.wait_reward(ref)
    assert task["reward_tx"] is not None and task["reward_tx"].startswith("0x")
    receipt = token.w3.eth.get_transaction_receipt(task["reward_tx"])
    assert receipt["status"] == 1

    # 15.00 HEIT = 1500 base units, on chain and (once caught up) in the mirror.
    assert api.chain_balance(anna) == 1500
    assert token.total_minted() == minted + 1500
    wallet = api.wallet_synced(anna)
    assert set(wallet) == WALLET_FIELDS
    assert wallet["balance"] == "15.00" and wallet["address"] == api.addresses[anna]
    history = api.request("GET", "/wallet/history", anna).json()
    assert [(h["kind"], h["amount"]) for h in history] == [("reward", "15.00")]
    assert set(history[0]) == HISTORY_FIELDS and history[0]["tx_hash"] == task["reward_tx"]

    # Approving again is refused and mints nothing.
    assert code(api.approve(ref)) == (409, "task_already_approved")
    api.publish(fresh("bin-"), "2.00")  # a later request, so the dispatcher had its chance
    time.sleep(0.5)
    assert token.total_minted() == minted + 1500
    assert api.chain_balance(anna) == 1500
    api.check_responses()


def test_a_rejected_task_mints_nothing(api: Api, people: People, module_stack: Stack) -> None:
    bram, ref = people.bram, fresh("bin-")  # registered, holding nothing
    minted = module_stack.token.total_minted()
    api.do_task(ref, "7.00", bram)
    r = api.request("POST", f"/tasks/{ref}/reject", api.coordinator)
    assert r.json()["status"] == "rejected" and r.json()["reward_status"] is None
    assert code(api.approve(ref)) == (409, "task_not_submitted")
    assert api.chain_balance(bram) == 0
    assert module_stack.token.total_minted() == minted
    api.check_responses()


# ----- the yearly cap -----


def test_the_cap_is_100_heit_per_citizen_per_year(api: Api, module_stack: Stack) -> None:
    anna, bram = fresh("anna"), fresh("bram")
    registered(api, anna, bram)
    minted = module_stack.token.total_minted()

    # 60.00 + 40.00 = 100.00: exactly the cap, allowed.
    api.reward(fresh("a-"), "60.00", anna, at="2024-03-01T10:00:00+01:00")
    api.reward(fresh("a-"), "40.00", anna, at="2024-12-31T22:00:00+01:00")
    assert api.chain_balance(anna) == 10_000

    # 100.00 + 0.01 passes the cap: refused, the task stays submitted, nothing minted.
    over = fresh("a-")
    api.do_task(over, "0.01", anna)
    r = api.approve(over, at="2024-12-31T23:59:00+01:00")
    assert code(r) == (422, "annual_cap_exceeded")
    task = api.request("GET", f"/tasks/{over}").json()
    assert task["status"] == "submitted" and task["reward_status"] is None
    # Another citizen's cap is their own.
    api.reward(fresh("b-"), "30.00", bram, at="2024-12-31T23:59:30+01:00")

    # anna 100.00, bram 30.00.
    assert api.chain_balance(anna) == 10_000
    assert api.chain_balance(bram) == 3_000
    assert module_stack.token.total_minted() == minted + 13_000
    api.check_responses()


def test_a_new_calendar_year_in_the_approvals_offset_starts_from_zero(
    api: Api, module_stack: Stack
) -> None:
    anna = fresh("anna")
    registered(api, anna)
    minted = module_stack.token.total_minted()
    api.reward(fresh("a-"), "100.00", anna, at="2024-06-01T10:00:00+02:00")  # the 2024 cap

    # The next calendar year (in the approval time's own offset: this instant is still
    # 2024 in UTC) starts again from zero.
    first = fresh("a-")
    api.do_task(first, "0.01", anna)
    r = api.approve(first, at="2025-01-01T00:05:00+01:00")
    assert r.status_code == 200, r.text
    api.wait_reward(first)
    api.reward(fresh("a-"), "99.99", anna, at="2025-02-01T12:00:00+01:00")  # 0.01 + 99.99 = 100
    over = fresh("a-")
    api.do_task(over, "0.01", anna)
    assert code(api.approve(over, at="2025-06-01T12:00:00+02:00")) == (422, "annual_cap_exceeded")

    # anna: 100.00 in 2024 + 100.00 in 2025.
    assert api.chain_balance(anna) == 20_000
    assert module_stack.token.total_minted() == minted + 20_000
    assert api.wallet_synced(anna)["balance"] == "200.00"
    api.check_responses()


def test_business_time_is_iso_8601_with_an_offset(api: Api, people: People) -> None:
    ref = fresh("a-")
    api.do_task(ref, "0.01", people.anna)
    assert code(api.approve(ref, at="yesterday")) == (422, "invalid_time")
    assert code(api.approve(ref, at="2025-06-01T12:00:00")) == (422, "invalid_time")
    api.check_responses()


# ----- payments, refunds, redemptions -----


def test_a_citizen_pays_a_shop_and_the_shop_refunds(api: Api, module_stack: Stack) -> None:
    token = module_stack.token
    anna, bakker = fresh("anna"), fresh("bakker")
    registered(api, anna, shops=(bakker,))
    rewarded(api, anna, "20.00")
    assert api.chain_balance(anna) == 2000

    # anna pays bakker 4.50: anna 20.00 - 4.50 = 15.50, bakker 4.50.
    r = api.request("POST", "/payments", anna, json={"to": bakker, "amount": "4.50"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert set(p) == PAYMENT_FIELDS
    assert (p["payer"], p["payee"], p["amount"], p["status"]) == (
        anna,
        bakker,
        "4.50",
        "confirmed",
    )
    assert token.w3.eth.get_transaction_receipt(p["tx_hash"])["status"] == 1
    assert (api.chain_balance(anna), api.chain_balance(bakker)) == (1550, 450)

    # bakker refunds anna 1.25 of that payment: anna 16.75, bakker 3.25.
    refund = {"to": anna, "amount": "1.25", "refund_of": [p["id"]]}
    r = api.request("POST", "/payments", bakker, json=refund)
    assert r.status_code == 201, r.text
    assert (r.json()["payer"], r.json()["payee"], r.json()["amount"]) == (bakker, anna, "1.25")
    assert r.json()["refund_of"] == [{"payment_id": p["id"], "amount": "1.25"}]
    assert (api.chain_balance(anna), api.chain_balance(bakker)) == (1675, 325)

    # The mirror agrees once it caught up.
    assert api.wallet_synced(anna)["balance"] == "16.75"
    assert api.wallet_synced(bakker)["balance"] == "3.25"
    history = api.request("GET", "/wallet/history", anna).json()
    assert sorted((h["kind"], h["amount"], h["counterparty"]) for h in history) == sorted(
        [("reward", "20.00", None), ("sent", "4.50", bakker), ("received", "1.25", bakker)]
    )
    api.check_responses()


def test_payments_go_only_between_citizens_and_shops(api: Api, people: People) -> None:
    rich, till = people.rich, people.till
    # Policy: only citizen -> shop and shop -> citizen.
    assert code(
        api.request("POST", "/payments", rich, json={"to": people.bram, "amount": "1.00"})
    ) == (422, "transfer_not_allowed")
    assert code(
        api.request("POST", "/payments", till, json={"to": people.kapper, "amount": "1.00"})
    ) == (422, "transfer_not_allowed")
    assert code(
        api.request("POST", "/payments", rich, json={"to": people.coco, "amount": "1.00"})
    ) == (422, "transfer_not_allowed")
    assert code(
        api.request("POST", "/payments", rich, json={"to": "nobody", "amount": "1.00"})
    ) == (404, "unknown_account")
    assert (api.chain_balance(rich), api.chain_balance(till)) == (1500, 500)
    api.check_responses()


def test_a_payment_above_the_balance_is_refused(
    api: Api, people: People, module_stack: Stack
) -> None:
    token = module_stack.token
    rich, till = people.rich, people.till
    # More than the balance (15.00): refused, nothing moves.
    supply = token.total_supply()
    r = api.request("POST", "/payments", rich, json={"to": till, "amount": "15.01"})
    assert code(r) == (422, "insufficient_balance")
    assert (api.chain_balance(rich), api.chain_balance(till)) == (1500, 500)
    assert token.total_supply() == supply == token.total_minted() - token.total_redeemed()
    api.check_responses()


def test_amounts_are_positive_with_at_most_two_decimals(api: Api, people: People) -> None:
    rich, till = people.rich, people.till
    for bad in ("", "abc", "1.005", "0", "-1", "1e3", "0.00", " 1", "1,50", "+1"):
        r = api.request("POST", "/payments", rich, json={"to": till, "amount": bad})
        assert code(r) == (422, "invalid_amount"), bad
        r = api.request("POST", "/redemptions", till, json={"amount": bad})
        assert code(r) == (422, "invalid_amount"), bad
    assert (api.chain_balance(rich), api.chain_balance(till)) == (1500, 500)
    api.check_responses()


def test_an_idempotency_key_pays_once(api: Api, module_stack: Stack) -> None:
    anna, bakker = fresh("anna"), fresh("bakker")
    registered(api, anna, shops=(bakker,))
    rewarded(api, anna, "20.00")

    # The same payment sent twice pays once (anna 18.00, bakker 2.00).
    key = {"Idempotency-Key": secrets.token_hex(8)}
    first = api.request(
        "POST", "/payments", anna, json={"to": bakker, "amount": "2.00"}, headers=key
    )
    again = api.request(
        "POST", "/payments", anna, json={"to": bakker, "amount": "2.00"}, headers=key
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert (api.chain_balance(anna), api.chain_balance(bakker)) == (1800, 200)
    # With another key it is a new payment, sent at once by several clients it still pays
    # once: anna 17.50, bakker 2.50.
    tok = api.token(anna)
    other_key = secrets.token_hex(8)

    def send(_: int) -> httpx.Response:
        return httpx.post(
            f"{module_stack.api_url}/payments",
            json={"to": bakker, "amount": "0.50"},
            headers={"Authorization": f"Bearer {tok}", "Idempotency-Key": other_key},
            timeout=60,
        )

    with ThreadPoolExecutor(4) as pool:
        others = list(pool.map(send, range(4)))
    assert [r.status_code for r in others] == [201] * 4, [r.text for r in others]
    assert len({r.json()["id"] for r in others}) == 1
    assert others[0].json()["id"] != first.json()["id"]
    assert (api.chain_balance(anna), api.chain_balance(bakker)) == (1750, 250)
    # A refused payment retried with its key is refused again, even when the retry could pay.
    refused_key = {"Idempotency-Key": secrets.token_hex(8)}
    r = api.request(
        "POST", "/payments", anna, json={"to": bakker, "amount": "20.00"}, headers=refused_key
    )
    assert code(r) == (422, "insufficient_balance")
    r = api.request(
        "POST", "/payments", anna, json={"to": bakker, "amount": "1.00"}, headers=refused_key
    )
    assert code(r) == (422, "insufficient_balance")
    assert (api.chain_balance(anna), api.chain_balance(bakker)) == (1750, 250)

    # The mirror lists each payment once.
    assert api.wallet_synced(anna)["balance"] == "17.50"
    history = api.request("GET", "/wallet/history", anna).json()
    assert sorted((h["kind"], h["amount"], h["counterparty"]) for h in history) == sorted(
        [("reward", "20.00", None), ("sent", "2.00", bakker), ("sent", "0.50", bakker)]
    )
    api.check_responses()


def test_redemptions_burn_the_heit_under_consecutive_ids(api: Api, module_stack: Stack) -> None:
    token = module_stack.token
    anna, bakker = fresh("anna"), fresh("bakker")
    registered(api, anna, shops=(bakker,))
    rewarded(api, anna, "20.00")
    r = api.request("POST", "/payments", anna, json={"to": bakker, "amount": "5.75"})
    assert r.status_code == 201, r.text
    count, redeemed, supply = (
        token.redemption_count(),
        token.total_redeemed(),
        token.total_supply(),
    )

    # Redemptions: ids count on from the chain's last one, the HEIT are burned.
    r1 = api.request("POST", "/redemptions", bakker, json={"amount": "1.00"})
    r2 = api.request("POST", "/redemptions", bakker, json={"amount": "2.25"})
    assert r1.status_code == r2.status_code == 201, (r1.text, r2.text)
    assert set(r1.json()) == REDEMPTION_FIELDS
    assert (r1.json()["redemption_id"], r1.json()["amount"]) == (count + 1, "1.00")
    assert (r2.json()["redemption_id"], r2.json()["amount"]) == (count + 2, "2.25")
    # bakker 5.75 - 1.00 - 2.25 = 2.50; 3.25 more redeemed, 3.25 less supply.
    assert api.chain_balance(bakker) == 250
    assert token.total_redeemed() == redeemed + 325
    assert token.total_supply() == supply - 325
    assert token.redemption_count() == count + 2
    shop_1, _, amount_1 = token.redemption(count + 1)
    shop_2, _, amount_2 = token.redemption(count + 2)
    assert (shop_1, amount_1) == (api.addresses[bakker], 100)
    assert (shop_2, amount_2) == (api.addresses[bakker], 225)
    assert code(api.request("POST", "/redemptions", anna, json={"amount": "1.00"})) == (
        403,
        "forbidden",
    )
    r = api.request("POST", "/redemptions", bakker, json={"amount": "2.51"})
    assert code(r) == (422, "insufficient_balance")
    assert token.redemption_count() == count + 2 and api.chain_balance(bakker) == 250

    # The mirror agrees once it caught up.
    assert api.wallet_synced(bakker)["balance"] == "2.50"
    api.check_responses()
