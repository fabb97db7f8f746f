"""Approving several pieces of work at once (`POST /tasks/approvals`, issue 12): every rule of a
single approval holds for each ref, the caps count the rewards approved earlier in the same
request, a refusal refuses that ref only, and the approved rewards are minted once, together.

One stack for the module, with the four-eyes threshold at its deployment default (50.00 HEIT)
and a monthly cap of 60.00 HEIT; the yearly cap is the test stacks' 100.00. The last test opens
a small reward period on chain, so it runs last.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.token import Token
from scripts.stack import Stack
from store import tasks
from store.db import connect as connect_db
from store.db import init_db
from tests.apiclient import Api
from tests.conftest import fresh, heitje_on

pytestmark = pytest.mark.stack_env(
    HEITJE_FOUR_EYES_THRESHOLD="50.00", HEITJE_MONTHLY_REWARD_CAP="60.00"
)


@pytest.fixture(scope="module")
def api(module_stack: Stack) -> Iterator[Api]:
    """A coordinator who approves, another who publishes (`publisher_name`), an auditor."""
    client = Api(module_stack, coordinator=fresh("coco"), auditor=fresh("audrey"))
    client.staff(client.coordinator, "coordinator")
    client.staff(str(client.auditor), "auditor")
    client.publisher_name()
    yield client
    client.check_responses()
    client.close()


def approve_many(api: Api, refs: list[Any], by: str | None = None) -> dict[str, Any]:
    r = api.request("POST", "/tasks/approvals", by or api.coordinator, json={"refs": refs})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def outcomes(answer: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(o["ref"], o["result"], o["code"]) for o in answer["results"]]


def test_each_ref_is_decided_by_the_rules_of_one_approval(api: Api, module_stack: Stack) -> None:
    anna, bob = fresh("anna"), fresh("bob")
    api.citizen(anna)
    api.citizen(bob)
    api.wait_registered(anna, bob)
    a1, a2, a3, b1 = fresh("a1-"), fresh("a2-"), fresh("a3-"), fresh("b1-")
    api.do_task(a1, "15.00", anna)
    api.do_task(a2, "20.00", anna)
    api.do_task(a3, "30.00", anna)  # 15 + 20 + 30 = 65 > the monthly 60: refused
    api.do_task(b1, "25.00", bob)
    own = fresh("own-")  # published by the approving coordinator
    api.publish(own, "5.00", by=api.coordinator)
    assert api.request("POST", f"/tasks/{own}/claim", bob).status_code == 200
    assert api.request("POST", f"/tasks/{own}/submit", bob).status_code == 200
    still_open = fresh("open-")
    api.publish(still_open, "5.00")
    missing = fresh("missing-")
    minted = module_stack.token.total_minted()

    answer = approve_many(api, [a1, a2, a3, b1, own, still_open, missing, a1])

    assert outcomes(answer) == [
        (a1, "approved", None),
        (a2, "approved", None),
        (a3, "refused", "monthly_cap_exceeded"),
        (b1, "approved", None),
        (own, "refused", "approver_is_publisher"),
        (still_open, "refused", "task_not_submitted"),
        (missing, "refused", "task_not_found"),
        (a1, "refused", "task_already_approved"),  # the repeat of a ref decided above
    ]
    assert (answer["approved"], answer["first_approvals"], answer["refused"]) == (3, 0, 5)
    assert all(o["message"] for o in answer["results"] if o["result"] == "refused")

    # The refused are left as they were; the approved are minted, once, in one mintRewards.
    for ref in (a3, own):
        task = api.request("GET", f"/tasks/{ref}", api.coordinator).json()
        assert (task["status"], task["reward_status"]) == ("submitted", None)
    txs = {api.wait_reward(ref)["reward_tx"] for ref in (a1, a2, b1)}
    assert len(txs) == 1
    assert api.chain_balance(anna) == 1500 + 2000
    assert api.chain_balance(bob) == 2500
    assert module_stack.token.total_minted() == minted + 6000

    # The monthly cap still holds for a3 on its own: 35 + 30 > 60.
    r = api.approve(a3)
    assert (r.status_code, r.json()["code"]) == (422, "monthly_cap_exceeded")


def test_four_eyes_holds_in_a_batch(api: Api, module_stack: Stack) -> None:
    carl, big = fresh("carl"), fresh("big-")
    api.citizen(carl)
    api.wait_registered(carl)
    api.do_task(big, "50.00", carl)
    second = fresh("second")
    api.staff(second, "coordinator")
    minted = module_stack.token.total_minted()

    assert outcomes(approve_many(api, [big])) == [(big, "first_approval", None)]
    assert outcomes(approve_many(api, [big])) == [(big, "refused", "second_approver_required")]
    assert module_stack.token.total_minted() == minted  # nothing minted on one approval

    assert outcomes(approve_many(api, [big], by=second)) == [(big, "approved", None)]
    task = api.wait_reward(big)
    assert task["approvals"] == 2
    assert api.chain_balance(carl) == 5000
    assert module_stack.token.total_minted() == minted + 5000


def test_bad_batches_are_refused_whole(api: Api) -> None:
    dora = fresh("dora")
    api.citizen(dora)
    ref = fresh("d-")
    api.do_task(ref, "5.00", dora)
    for body in ({"refs": []}, {"refs": [ref] * 201}, {"refs": "abc"}, {"refs": ["x" * 65]}, {}):
        r = api.request("POST", "/tasks/approvals", api.coordinator, json=body)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_request"), body
    r = api.request("POST", "/tasks/approvals", dora, json={"refs": [ref]})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = api.request("POST", "/tasks/approvals", None, json={"refs": [ref]})
    assert r.status_code == 401
    task = api.request("GET", f"/tasks/{ref}", api.coordinator).json()
    assert task["status"] == "submitted"  # nothing decided


def test_the_encoded_mint_batch_is_what_the_abi_says(module_stack: Stack) -> None:
    """`Token.mint_rewards_tx` encodes with eth-abi from the selector; web3's contract function
    (which reads the ABI) must give the same bytes."""
    token: Token = module_stack.token
    items = [
        ("0x" + "11" * 20, 1, b"\x01" * 32),
        ("0x00000000000000000000000000000000000000aA", 2**256 - 1, b"\xff" * 32),
    ]
    from web3 import Web3

    to = [Web3.to_checksum_address(a) for a, _, _ in items]
    fn = token.contract.functions.mintRewards(to, [i[1] for i in items], [i[2] for i in items])
    ours = token.mint_rewards_tx([(t, a, r) for t, (_, a, r) in zip(to, items, strict=True)])
    assert ours["data"] == fn._encode_transaction_data()
    assert ours["to"] == token.address
    with pytest.raises(ValueError):
        token.mint_rewards_tx([(to[0], 1, b"\x01" * 31)])


def test_the_reward_period_counts_the_batch_itself(api: Api, module_stack: Stack) -> None:
    """A new period of 30.00 HEIT with 20.00 per citizen (runs last: it replaces the module's
    period). Ed's two rewards of 15.00 pass the cap per citizen together, so the second is
    refused; Fay's 10.00 fits what is left (30 - 15 = 15); Gus's 10.00 does not (5 left)."""
    ed, fay, gus = fresh("ed"), fresh("fay"), fresh("gus")
    for who in (ed, fay, gus):
        api.citizen(who)
    api.wait_registered(ed, fay, gus)
    e1, e2, f1, g1 = fresh("e1-"), fresh("e2-"), fresh("f1-"), fresh("g1-")
    api.do_task(e1, "15.00", ed)
    api.do_task(e2, "15.00", ed)
    api.do_task(f1, "10.00", fay)
    api.do_task(g1, "10.00", gus)
    # Every mint of the module is confirmed: the new period starts with nothing on its way.
    opened = heitje_on(module_stack, "period", "open", "--budget", "30.00", "--cap", "20.00")
    assert opened.returncode == 0, opened.stderr

    answer = approve_many(api, [e1, e2, f1, g1])

    assert outcomes(answer) == [
        (e1, "approved", None),
        (e2, "refused", "citizen_cap_exceeded"),
        (f1, "approved", None),
        (g1, "refused", "period_budget_exhausted"),
    ]
    for ref in (e1, f1):
        api.wait_reward(ref)
    assert api.chain_balance(ed) == 1500
    assert api.chain_balance(fay) == 1000
    assert api.chain_balance(gus) == 0


def test_the_caps_sums_count_one_citizens_approved_rewards_from_an_index(tmp_path: Path) -> None:
    """The yearly and monthly sums the caps compare against count only the citizen's approved
    rewards of that year or month (by `approved_year`, and by the month `decided_at` names), and
    SQLite answers them from the indexes made for them, not by reading each task row."""
    path = tmp_path / "service.sqlite"
    init_db(path)
    db = connect_db(path)
    try:
        for uid in (1, 2):
            db.execute(
                "INSERT INTO users (id, username, username_key, role, password_hash, name, "
                "created_at) VALUES (?, ?, ?, 'citizen', 'x', 'N', 't')",
                (uid, f"c{uid}", f"c{uid}"),
            )
        rows = [  # (citizen, status, reward, decided_at, approved_year)
            (1, "approved", 500, "2026-12-01T09:00:00+01:00", 2026),
            (1, "approved", 250, "2026-12-31T23:59:00+01:00", 2026),
            (1, "approved", 300, "2026-11-30T10:00:00+01:00", 2026),
            (1, "approved", 200, "2025-12-15T10:00:00+01:00", 2025),
            (1, "submitted", 700, None, None),
            (1, "rejected", 900, "2026-12-02T10:00:00+01:00", None),
            (2, "approved", 900, "2026-12-02T10:00:00+01:00", 2026),
        ]
        for i, (uid, status, reward, at, year) in enumerate(rows):
            db.execute(
                "INSERT INTO tasks (ref, kind, title, reward, status, published_by, "
                "published_at, claimed_by, decided_at, approved_year) "
                "VALUES (?, 'k', 't', ?, ?, 2, 't', ?, ?, ?)",
                (f"t{i}", reward, status, uid, at, year),
            )
        assert tasks.approved_rewards(db, 1, 2026) == 500 + 250 + 300
        assert tasks.approved_rewards(db, 1, 2025) == 200
        assert tasks.approved_in_month(db, 1, "2026-12") == 500 + 250
        assert tasks.approved_in_month(db, 1, "2026-11") == 300
        assert tasks.approved_in_month(db, 2, "2026-12") == 900
        assert tasks.approved_in_month(db, 1, "2027-01") == 0
        plans = {
            name: " ".join(str(r[3]) for r in db.execute("EXPLAIN QUERY PLAN " + sql, params))
            for name, sql, params in [
                ("year", tasks.YEAR_SUM, (1, 2026)),
                ("month", tasks.MONTH_SUM, (1, "2026-12")),
            ]
        }
        assert (
            "COVERING INDEX tasks_year_rewards (claimed_by=? AND status=? AND approved_year=?)"
            in plans["year"]
        )
        assert (
            "INDEX tasks_month_rewards (claimed_by=? AND status=? AND <expr>=?)" in plans["month"]
        )
    finally:
        db.close()


def test_period_totals_read_in_one_batch_match_single_calls(module_stack: Stack) -> None:
    """`rewards_in_current_period_many` (hand-encoded calldata, one JSON-RPC batch) answers
    what `rewards_in_current_period` (web3's contract call) answers, for rewarded citizens
    and for an address never rewarded."""
    token: Token = module_stack.token
    block = int(token.w3.eth.block_number)
    minted_to = {
        e["args"]["to"]
        for e in token.contract.events.RewardMinted().get_logs(
            from_block=module_stack.manifest.deploy_block
        )
    }
    wanted = [*sorted(minted_to), "0x" + "ab" * 20]
    many = token.rewards_in_current_period_many(wanted, block)
    assert len(many) == len(wanted)
    for address, units in many.items():
        assert units == token.rewards_in_current_period(address, block)
    assert any(units > 0 for units in many.values())
