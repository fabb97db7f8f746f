"""Insiders and sign-up abuse (issue 9, items 3 and 4): a coordinator never decides on a task
they published; a new shop is pending (not on chain, not listed, not payable) until an admin
approves it; citizen sign-ups are throttled per client address and in all; their on-chain
registrations are batched; `GET /tasks` shows a claimant only to staff and to that claimant.

Real stacks (anvil, API, indexer); each test fails on the code before this change."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from node.contract import AccountKind
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, IBAN_KAPPER, Api
from tests.conftest import fresh, run_heitje


def code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["code"]


@pytest.fixture(scope="module")
def crew(module_stack: Stack) -> Iterator[Api]:
    """Two coordinators (`coordinator` approves, `publisher` publishes), an auditor."""
    api = Api(module_stack, coordinator=fresh("coco"), auditor=fresh("audrey"))
    api.staff(api.coordinator, "coordinator")
    api.staff(str(api.auditor), "auditor")
    api.publisher_name()
    yield api
    api.close()


@pytest.fixture
def api(crew: Api, module_stack: Stack) -> Iterator[Api]:
    client = Api(module_stack, coordinator=crew.coordinator, auditor=crew.auditor, known=crew)
    yield client
    client.check_responses()
    client.close()


# ----- separation of duties -----


def test_a_coordinator_cannot_approve_or_reject_a_task_they_published(
    api: Api, module_stack: Stack
) -> None:
    """The defect: one coordinator published and approved, minting at will."""
    anna, ref = fresh("anna"), fresh("own-")
    api.citizen(anna)
    api.wait_registered(anna)
    publisher = api.publisher_name()
    api.do_task(ref, "30.00", anna)  # published by `publisher`
    minted = module_stack.token.total_minted()

    assert code(api.approve(ref, by=publisher)) == (403, "approver_is_publisher")
    r = api.request("POST", f"/tasks/{ref}/reject", publisher)
    assert code(r) == (403, "approver_is_publisher")
    task = api.request("GET", f"/tasks/{ref}", api.coordinator).json()
    assert (task["status"], task["reward_status"]) == ("submitted", None)  # nothing changed
    assert module_stack.token.total_minted() == minted

    # Another coordinator approves: 30.00 HEIT = 3000 base units minted to anna.
    r = api.approve(ref)
    assert r.status_code == 200, r.text
    api.wait_reward(ref)
    assert api.chain_balance(anna) == 3000
    assert module_stack.token.total_minted() == minted + 3000


@pytest.mark.stack_env(HEITJE_FOUR_EYES_THRESHOLD="50.00")  # the deployment default
def test_a_reward_at_the_four_eyes_threshold_needs_two_coordinators(stack: Stack) -> None:
    """The defect: one coordinator alone approved rewards of any size. At or above the
    threshold (50.00 HEIT) the first approval only records; the same coordinator again is
    refused; a second coordinator mints. Below it (49.99) one approval mints."""
    api = Api(stack, coordinator=fresh("first"))
    try:
        api.staff(api.coordinator, "coordinator")
        second = fresh("second")
        api.staff(second, "coordinator")
        anna, big, small = fresh("anna"), fresh("big-"), fresh("small-")
        api.citizen(anna)
        api.wait_registered(anna)
        api.do_task(big, "50.00", anna)
        api.do_task(small, "49.99", anna)

        r = api.approve(big)
        assert r.status_code == 200, r.text
        task = r.json()
        assert (task["status"], task["approvals"], task["approvals_needed"]) == ("submitted", 1, 2)
        assert task["reward_status"] is None  # nothing minted, no mint queued
        assert code(api.approve(big)) == (409, "second_approver_required")
        assert stack.token.total_minted() == 0

        r = api.approve(big, by=second)
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["approvals"]) == ("approved", 2)
        api.wait_reward(big)
        assert api.chain_balance(anna) == 5000

        r = api.approve(small)  # below the threshold: one approval
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["approvals_needed"]) == ("approved", 1)
        api.wait_reward(small)
        assert api.chain_balance(anna) == 5000 + 4999
        assert stack.token.total_minted() == 9999
    finally:
        api.close()


# ----- claimant privacy -----


def test_a_claimant_is_shown_only_to_staff_and_to_that_claimant(api: Api) -> None:
    """The defect: `GET /tasks` was public and named who claimed what."""
    anna, bram, ref = fresh("anna"), fresh("bram"), fresh("priv-")
    api.citizen(anna)
    api.citizen(bram)
    api.publish(ref, "5.00")
    assert api.request("POST", f"/tasks/{ref}/claim", anna).json()["claimed_by"] == anna

    def seen_by(user: str | None) -> tuple[object, object]:
        one = api.request("GET", f"/tasks/{ref}", user)
        listed = api.request("GET", "/tasks?status=claimed&limit=500", user)
        assert one.status_code == 200 and listed.status_code == 200
        [row] = [t for t in listed.json() if t["ref"] == ref]
        assert row["status"] == one.json()["status"] == "claimed"
        return one.json()["claimed_by"], row["claimed_by"]

    assert seen_by(None) == (None, None)  # anonymous
    assert seen_by(bram) == (None, None)  # another citizen
    assert seen_by(anna) == (anna, anna)  # the claimant
    for staff in (api.coordinator, str(api.auditor), api.publisher_name(), "admin"):
        assert seen_by(staff) == (anna, anna), staff


# ----- shops pending until approved -----


def _rewarded_citizen(api: Api, reward: str) -> str:
    citizen = fresh("cit")
    api.citizen(citizen)
    api.wait_registered(citizen)
    api.reward(fresh("t-"), reward, citizen)
    return citizen


def test_a_new_shop_is_pending_until_an_admin_approves_it(api: Api, module_stack: Stack) -> None:
    """The defect: anyone could open a shop, registered on chain at once, listed to every
    citizen and payable (a citizen paid their own rewards to their own shop)."""
    token = module_stack.token
    citizen = _rewarded_citizen(api, "10.00")
    shop = fresh("winkel")
    signed_up = api.shop(shop, IBAN_BAKKER, approve=False)
    assert signed_up["registered"] is False

    # Pending: listed to admins only, not registered on chain, not payable.
    listed = {s["username"] for s in api.request("GET", "/shops").json()}
    assert shop not in listed
    pending = api.request("GET", "/admin/shops", "admin").json()
    [application] = [s for s in pending if s["username"] == shop]
    assert application["status"] == "pending" and application["iban"] == IBAN_BAKKER
    assert application["address"] == api.addresses[shop] and application["reviewed_by"] is None
    assert code(api.request("GET", "/admin/shops", citizen)) == (403, "forbidden")
    assert code(api.request("GET", "/admin/shops", api.coordinator)) == (403, "forbidden")
    r = api.request("POST", "/payments", citizen, json={"to": shop, "amount": "4.00"})
    assert code(r) == (409, "shop_not_approved")
    assert api.request("GET", "/auth/me", shop).json()["registered"] is False
    intents = api.request("GET", "/audit/intents?limit=1000", str(api.auditor)).json()
    assert [i for i in intents if i["username"] == shop] == []
    assert token.account_kind(api.addresses[shop]) == AccountKind.NONE
    assert code(api.request("POST", f"/admin/shops/{shop}/approve", api.coordinator)) == (
        403,
        "forbidden",
    )

    # Approved by the admin: registered through the outbox, listed, payable.
    approved = api.approve_shop(shop)
    assert approved["reviewed_by"] == "admin"
    assert code(api.request("POST", f"/admin/shops/{shop}/reject", "admin")) == (
        409,
        "shop_not_pending",
    )
    api.wait_registered(shop)
    assert token.account_kind(api.addresses[shop]) == AccountKind.SHOP
    assert shop in {s["username"] for s in api.request("GET", "/shops").json()}
    assert shop not in {s["username"] for s in api.request("GET", "/admin/shops", "admin").json()}
    r = api.request("POST", "/payments", citizen, json={"to": shop, "amount": "4.00"})
    assert r.status_code in (200, 201) and r.json()["status"] == "confirmed", r.text
    assert api.chain_balance(shop) == 400 and api.chain_balance(citizen) == 600


def test_a_rejected_shop_is_never_registered_listed_or_payable(
    api: Api, module_stack: Stack
) -> None:
    citizen = _rewarded_citizen(api, "3.00")
    shop = fresh("nep")
    api.shop(shop, IBAN_KAPPER, approve=False)
    r = api.request("POST", f"/admin/shops/{shop}/reject", "admin")
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    assert code(api.request("POST", f"/admin/shops/{shop}/approve", "admin")) == (
        409,
        "shop_not_pending",
    )
    assert code(api.request("POST", f"/admin/shops/{fresh('geen')}/approve", "admin")) == (
        404,
        "unknown_shop",
    )
    assert code(api.request("POST", f"/admin/shops/{citizen}/approve", "admin")) == (
        404,
        "unknown_shop",
    )
    assert code(api.request("GET", "/admin/shops?status=weird", "admin")) == (
        422,
        "invalid_status",
    )
    rejected = api.request("GET", "/admin/shops?status=rejected", "admin").json()
    assert shop in {s["username"] for s in rejected}
    assert shop not in {s["username"] for s in api.request("GET", "/shops").json()}
    r = api.request("POST", "/payments", citizen, json={"to": shop, "amount": "1.00"})
    assert code(r) == (409, "shop_not_approved")
    assert module_stack.token.account_kind(api.addresses[shop]) == AccountKind.NONE


def test_the_cli_lists_and_approves_pending_shops(api: Api, module_stack: Stack) -> None:
    shop = fresh("cliwinkel")
    api.shop(shop, IBAN_BAKKER, approve=False)
    data_dir = str(module_stack.data_dir)
    listed = run_heitje("shops", "pending", "--data-dir", data_dir)
    assert listed.returncode == 0, listed.stderr
    assert shop in {s["username"] for s in json.loads(listed.stdout)}
    done = run_heitje("shops", "approve", shop.upper(), "--data-dir", data_dir)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["username"], shown["status"], shown["reviewed_by"]) == (shop, "approved", None)
    again = run_heitje("shops", "reject", shop, "--data-dir", data_dir)
    assert again.returncode == 2 and again.stdout == ""
    assert len(again.stderr.strip().splitlines()) == 1 and "already approved" in again.stderr
    api.wait_registered(shop)  # the running service's dispatcher registers it
    assert module_stack.token.account_kind(api.addresses[shop]) == AccountKind.SHOP


# ----- sign-up throttle -----


def _sign_up(stack: Stack, username: str, client: str) -> httpx.Response:
    """POST /citizens as if from `client` (uvicorn takes X-Forwarded-For from the local proxy
    address the tests connect from)."""
    with stack.client() as http:
        return http.post(
            "/citizens",
            json={"username": username, "password": "signup-password-1", "name": "Ine Teller"},
            headers={"X-Forwarded-For": client},
        )


@pytest.mark.stack_env(HEITJE_SIGNUP_PER_ADDRESS_PER_HOUR="2", HEITJE_SIGNUP_PER_HOUR="4")
def test_citizen_sign_ups_are_throttled_per_address_and_in_all(stack: Stack) -> None:
    """The defect: citizens signed up anonymously without limit (each one costing gas)."""
    first, second, third = "10.0.0.1", "10.0.0.2", "10.0.0.3"
    assert _sign_up(stack, "ine1", first).status_code == 201
    assert _sign_up(stack, "ine2", first).status_code == 201
    r = _sign_up(stack, "ine3", first)  # a third from one address in the hour
    assert code(r) == (429, "signup_throttled")
    wait = int(r.headers["Retry-After"])
    assert 0 < wait <= 3600
    assert _sign_up(stack, "ine3", second).status_code == 201  # nothing half done: name free
    assert _sign_up(stack, "ine4", second).status_code == 201
    r = _sign_up(stack, "ine5", third)  # a fifth in all in the hour
    assert code(r) == (429, "signup_throttled") and 0 < int(r.headers["Retry-After"]) <= 3600
    with stack.client() as http:  # only the four accepted exist
        for name, status in (("ine1", 200), ("ine3", 200), ("ine5", 401)):
            r = http.post("/auth/token", json={"username": name, "password": "signup-password-1"})
            assert r.status_code == status, (name, r.text)


def _sign_up_shop(stack: Stack, username: str, client: str) -> httpx.Response:
    """POST /shops as if from `client` (as `_sign_up`)."""
    body = {
        "username": username,
        "password": "signup-password-1",
        "name": "Winkel Teller",
        "iban": IBAN_BAKKER,
    }
    with stack.client() as http:
        return http.post("/shops", json=body, headers={"X-Forwarded-For": client})


@pytest.mark.stack_env(HEITJE_SIGNUP_PER_ADDRESS_PER_HOUR="2", HEITJE_SIGNUP_PER_HOUR="5")
def test_shop_and_ipv6_sign_ups_are_throttled_by_address_and_in_all(stack: Stack) -> None:
    """The defects: the per-address limit counted each IPv6 address, so one client with a /64
    (2^64 addresses) signed up without limit; and `POST /shops` was not throttled at all.
    Citizens and shops count together: 2 per address (an IPv6 client by its /64), 5 in all."""
    lan, other_lan = "2001:db8:1:2", "2001:db8:1:3"  # two /64s of one /48
    assert _sign_up(stack, "jan1", f"{lan}::1").status_code == 201
    assert _sign_up_shop(stack, "jan2", f"{lan}:ffff:ffff:ffff:ffff").status_code == 201
    # A third from another address of that /64, citizen or shop, is refused.
    for r in (_sign_up(stack, "jan3", f"{lan}::3"), _sign_up_shop(stack, "jan3", f"{lan}:1::3")):
        assert code(r) == (429, "signup_throttled"), r.text
        assert 0 < int(r.headers["Retry-After"]) <= 3600
    # The next /64 is another client; IPv4 addresses count one by one.
    assert _sign_up_shop(stack, "jan3", f"{other_lan}::1").status_code == 201
    assert _sign_up_shop(stack, "jan4", "10.0.0.1").status_code == 201
    assert _sign_up_shop(stack, "jan5", "10.0.0.2").status_code == 201
    r = _sign_up_shop(stack, "jan6", "10.0.0.3")  # a sixth in all in the hour
    assert code(r) == (429, "signup_throttled") and 0 < int(r.headers["Retry-After"]) <= 3600
    with stack.client() as http:  # only the five accepted exist, and nothing half done
        for name, status in (("jan2", 200), ("jan3", 200), ("jan5", 200), ("jan6", 401)):
            r = http.post("/auth/token", json={"username": name, "password": "signup-password-1"})
            assert r.status_code == status, (name, r.text)


# ----- batched registrations -----


def test_registrations_of_many_sign_ups_land_in_one_transaction_per_kind(stack: Stack) -> None:
    """The defect: each sign-up cost the registrar one `registerAccount` transaction."""
    api = Api(stack, auditor="aud")
    try:
        api.staff("aud", "auditor")
        stack.restart_api(HEITJE_DISPATCHER="false")  # let the sign-ups queue up
        citizens = [f"burger{i}" for i in range(6)]
        shops = ["bakker", "kapper"]
        for name in citizens:
            api.citizen(name)
        for name in shops:
            api.shop(name, IBAN_BAKKER)
        registrar = stack.manifest.roles["registrar"]
        w3 = stack.token.w3
        nonce = w3.eth.get_transaction_count(registrar)
        stack.restart_api()  # the dispatcher finds 6 citizen and 2 shop registrations
        api.wait_registered(*citizens, *shops)
        intents = [
            i
            for i in api.request("GET", "/audit/intents?limit=1000", "aud").json()
            if i["kind"] == "register"
        ]
        by_tx: dict[str, set[str]] = {}
        for i in intents:
            by_tx.setdefault(i["tx_hash"], set()).add(i["username"])
        # One transaction per kind: 8 registrations in 2 transactions, not 8.
        assert sorted(map(sorted, by_tx.values())) == [sorted(shops), sorted(citizens)]
        assert w3.eth.get_transaction_count(registrar) == nonce + 2
        for name in citizens:
            assert stack.token.account_kind(api.addresses[name]) == AccountKind.CITIZEN
        for name in shops:
            assert stack.token.account_kind(api.addresses[name]) == AccountKind.SHOP
        for tx_hash in by_tx:
            assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    finally:
        api.close()
