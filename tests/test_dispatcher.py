"""A reward arrives exactly once, whatever point the dispatcher crashes at.

The API process is really killed: by SIGKILL while the dispatcher is off (approval written,
nothing sent), or by the fault-injection switch HEITJE_CRASH_AT, which makes the process exit
at once right after the mint was signed and journaled (before broadcast) or right after the
broadcast (before the receipt was recorded). Then the API is started again and must finish.

Each test has a stack of its own (the API is killed and restarted). The crash tests start
theirs with the fault-injection switch already set (`stack_env`): it only fires at a mint, so
sign-up, registration and the task run as usual, and no restart is spent on turning it on.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from typing import Any

import httpx
import pytest

from scripts.stack import Stack

REWARD_UNITS = 1500  # "15.00" HEIT


def _login(c: httpx.Client, user: str, pw: str) -> dict[str, str]:
    r = c.post("/auth/token", json={"username": user, "password": pw})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _wait(pred: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _prepare_submitted_task(stack: Stack) -> tuple[httpx.Client, dict[str, str], str]:
    """Citizen and coordinator exist, the citizen's wallet is registered, task-1 submitted."""
    c = stack.client()
    admin = _login(c, "admin", stack.admin_password)
    pw = secrets.token_urlsafe(12)
    assert (
        c.post(
            "/staff",
            headers=admin,
            json={"username": "coord", "password": pw, "name": "Co", "role": "coordinator"},
        ).status_code
        == 201
    )
    assert (
        c.post(
            "/staff",
            headers=admin,
            json={"username": "aud", "password": pw, "name": "Au", "role": "auditor"},
        ).status_code
        == 201
    )
    assert (
        c.post(
            "/staff",
            headers=admin,
            json={"username": "pub", "password": pw, "name": "Pu", "role": "coordinator"},
        ).status_code
        == 201
    )  # publishes; `coord` approves (separation of duties)
    r = c.post("/citizens", json={"username": "anna", "password": pw, "name": "Anna"})
    assert r.status_code == 201
    address = r.json()["address"]
    citizen = _login(c, "anna", pw)
    _wait(lambda: c.get("/auth/me", headers=citizen).json()["registered"] is True)
    coord = _login(c, "coord", pw)
    assert (
        c.post(
            "/tasks",
            headers=_login(c, "pub", pw),
            json={
                "ref": "task-1",
                "kind": "paint_bin",
                "title": "Paint a waste bin",
                "reward": "15.00",
            },
        ).status_code
        == 201
    )
    assert c.post("/tasks/task-1/claim", headers=citizen).status_code == 200
    assert c.post("/tasks/task-1/submit", headers=citizen).status_code == 200
    return c, coord, address


def _mint_events(stack: Stack) -> int:
    token = stack.token
    logs = token.contract.events.RewardMinted().get_logs(from_block=stack.manifest.deploy_block)
    return len(logs)


def _intent(stack: Stack) -> sqlite3.Row:
    conn = sqlite3.connect(stack.data_dir / "service.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        row: sqlite3.Row = conn.execute("SELECT * FROM intents WHERE kind='mint'").fetchone()
        return row
    finally:
        conn.close()


def _assert_rewarded_once(stack: Stack, address: str) -> None:
    assert stack.token.balance_of(address) == REWARD_UNITS
    assert stack.token.total_minted() == REWARD_UNITS
    assert _mint_events(stack) == 1
    assert _intent(stack)["status"] == "confirmed"


@pytest.mark.parametrize(
    "crash_at",
    [
        pytest.param(point, marks=pytest.mark.stack_env(HEITJE_CRASH_AT=point))
        for point in ("mint_after_sign", "mint_after_send")
    ],
)
def test_dispatcher_crash_mid_mint_rewards_exactly_once(stack: Stack, crash_at: str) -> None:
    assert stack.env["HEITJE_CRASH_AT"] == crash_at  # the API runs with the switch set
    c, coord, address = _prepare_submitted_task(stack)
    r = c.post("/tasks/task-1/approve", headers=coord)
    assert r.status_code == 200
    _wait(lambda: not stack.api.alive())  # the injected crash killed the process
    assert stack.api.process.returncode == 70
    intent = _intent(stack)
    assert intent["status"] == "sent" and intent["tx_hash"]
    if crash_at == "mint_after_sign":  # signed and journaled, never broadcast
        assert stack.token.total_minted() == 0
    stack.restart_api(HEITJE_CRASH_AT="")  # the switch off
    c = stack.client()
    _wait(lambda: c.get("/tasks/task-1").json()["reward_status"] == "confirmed")
    _assert_rewarded_once(stack, address)
    # Approving again mints nothing more.
    again = c.post("/tasks/task-1/approve", headers=coord)
    assert again.status_code == 409 and again.json()["code"] == "task_already_approved"
    _assert_rewarded_once(stack, address)


def test_kill_between_approval_and_dispatch_rewards_exactly_once(stack: Stack) -> None:
    c, coord, address = _prepare_submitted_task(stack)
    stack.restart_api(HEITJE_DISPATCHER="false")
    c = stack.client()
    assert c.post("/tasks/task-1/approve", headers=coord).status_code == 200
    assert _intent(stack)["status"] == "pending"
    stack.api.kill()  # SIGKILL: nothing has been sent
    assert stack.token.total_minted() == 0
    stack.restart_api()
    c = stack.client()
    _wait(lambda: c.get("/tasks/task-1").json()["reward_status"] == "confirmed")
    _assert_rewarded_once(stack, address)
