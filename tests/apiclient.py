"""An HTTP client of a test stack's API, as the people using it would drive it: sign-ups,
logins (bearer tokens), the task lifecycle, waiting for the chain and the SQL mirror.

Every response is kept, so a test can check at the end that no body leaked a secret and that
every error body is exactly `{"code", "message"}`.
"""

from __future__ import annotations

import base64
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from domain.security import open_custodial_key
from scripts.replay.client import Client
from scripts.stack import Stack
from tests.conftest import fresh, poll

# Valid IBANs (ISO 13616 checksums) that no bank will ever see.
IBAN_BAKKER = "NL91ABNA0417164300"
IBAN_KAPPER = "NL39 ASNB 8190 0865 29"


class Api(Client):
    """The one API client (`scripts.replay.client.Client`) with the checks tests make: it keeps
    every response, knows the stack's admin, and asserts that set-up calls succeed.

    `coordinator` approves tasks unless a call names someone else; another coordinator, the
    `publisher` (made on first use), publishes them, as separation of duties asks. With an
    `auditor`, `wait_registered` reads the outbox (`/audit/intents`) as that auditor instead of
    logging every user in (a login costs an argon2 verification). `known` is another client on
    the same stack whose users (passwords, bearer tokens, addresses) this one takes over, so
    tests on a shared stack need not sign up or log in the same people again; only this
    client's own responses are checked by `check_responses`."""

    def __init__(
        self,
        stack: Stack,
        *,
        coordinator: str = "coco",
        auditor: str | None = None,
        known: Api | None = None,
    ) -> None:
        super().__init__(stack.api_url, timeout=60, keep=True)
        self.stack = stack
        self.coordinator = coordinator
        self.auditor = auditor
        self.passwords["admin"] = stack.admin_password
        self.addresses: dict[str, str] = {}
        self.publisher: str | None = None
        if known is not None:
            self.passwords.update(known.passwords)
            self.tokens.update(known.tokens)
            self.addresses.update(known.addresses)
            self.publisher = known.publisher

    def token(self, user: str) -> str:
        """The bearer token of `user` (logs in on first use)."""
        token = self.login(user)
        assert isinstance(token, str), token
        return token

    # ----- accounts -----

    def staff(self, username: str, role: str) -> None:
        pw = secrets.token_urlsafe(12)
        r = self.request(
            "POST",
            "/staff",
            "admin",
            json={"username": username, "password": pw, "name": username.title(), "role": role},
        )
        assert r.status_code == 201, r.text
        assert r.json() == {
            "username": username,
            "role": role,
            "name": username.title(),
            "address": None,
            "registered": None,
        }
        self.passwords[username] = pw

    def citizen(self, username: str) -> dict[str, Any]:
        pw = secrets.token_urlsafe(12)
        r = self.request(
            "POST",
            "/citizens",
            json={
                "username": username,
                "password": pw,
                "name": f"{username.title()} Jansen",
                "neighbourhood": "Schandelen",
            },
        )
        assert r.status_code == 201, r.text
        self.passwords[username] = pw
        self.addresses[username] = r.json()["address"]
        return dict(r.json())

    def shop(self, username: str, iban: str, *, approve: bool = True) -> dict[str, Any]:
        """Sign up shop `username`; with `approve` the admin approves it at once (a new shop
        is pending, unregistered and unpayable until then)."""
        pw = secrets.token_urlsafe(12)
        r = self.request(
            "POST",
            "/shops",
            json={
                "username": username,
                "password": pw,
                "name": f"Winkel {username.title()}",
                "category": "food",
                "iban": iban,
            },
        )
        assert r.status_code == 201, r.text
        self.passwords[username] = pw
        self.addresses[username] = r.json()["address"]
        if approve:
            self.approve_shop(username)
        return dict(r.json())

    def approve_shop(self, username: str) -> dict[str, Any]:
        """The admin approves the pending shop `username` (its registration is queued)."""
        r = self.request("POST", f"/admin/shops/{username}/approve", "admin")
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
        return dict(r.json())

    def wait_registered(self, *users: str) -> None:
        """Wait until the registration of each of `users` on chain is confirmed: what
        `/auth/me` calls `registered`, the user's `register` intent in the outbox confirmed."""
        auditor = self.auditor

        def done() -> bool:
            if auditor is None:
                return all(self.request("GET", "/auth/me", u).json()["registered"] for u in users)
            r = self.request("GET", "/audit/intents?limit=1000", auditor)
            confirmed = {
                i["username"]
                for i in r.json()
                if i["kind"] == "register" and i["status"] == "confirmed"
            }
            return confirmed >= set(users)

        poll(done, f"registration of {users} on chain")

    # ----- tasks -----

    def publisher_name(self) -> str:
        """The coordinator who publishes tasks (not `coordinator`, who approves them)."""
        if self.publisher is None:
            name = fresh("pub")
            self.staff(name, "coordinator")
            self.publisher = name
        return self.publisher

    def publish(self, ref: str, reward: str, by: str | None = None) -> None:
        r = self.request(
            "POST",
            "/tasks",
            by or self.publisher_name(),
            json={
                "ref": ref,
                "kind": "paint-bin",
                "title": f"Paint waste bin {ref}",
                "reward": reward,
                "neighbourhood": "Schandelen",
            },
        )
        assert r.status_code == 201, r.text

    def do_task(self, ref: str, reward: str, citizen: str) -> None:
        """Publish `ref`, let `citizen` claim and submit it (not yet approved)."""
        self.publish(ref, reward)
        assert self.request("POST", f"/tasks/{ref}/claim", citizen).status_code == 200
        assert self.request("POST", f"/tasks/{ref}/submit", citizen).status_code == 200

    def approve(self, ref: str, at: str | None = None, by: str | None = None) -> httpx.Response:
        return self.request("POST", f"/tasks/{ref}/approve", by or self.coordinator, at=at)

    def wait_reward(self, ref: str) -> dict[str, Any]:
        poll(
            lambda: self.request("GET", f"/tasks/{ref}").json()["reward_status"] == "confirmed",
            f"the reward of {ref}",
        )
        return dict(self.request("GET", f"/tasks/{ref}").json())

    def reward(self, ref: str, reward: str, citizen: str, at: str | None = None) -> None:
        self.do_task(ref, reward, citizen)
        r = self.approve(ref, at)
        assert r.status_code == 200, r.text
        self.wait_reward(ref)

    # ----- wallet -----

    def wallet_synced(self, user: str) -> dict[str, Any]:
        """GET /wallet once the mirror has reached the chain's current head."""
        head = int(self.stack.token.w3.eth.block_number)
        box: dict[str, Any] = {}

        def caught_up() -> bool:
            r = self.request("GET", "/wallet", user)
            box.update(r.json())
            return r.status_code == 200 and (box["as_of_block"] or -1) >= head

        poll(caught_up, f"the mirror to reach block {head}")
        return box

    def chain_balance(self, user: str) -> int:
        return int(self.stack.token.balance_of(self.addresses[user]))

    # ----- checks over every response -----

    def check_responses(self) -> None:
        """Error bodies are exactly {code, message}; no body leaks secrets."""
        assert self.responses
        secrets_ = [pw for u, pw in self.passwords.items()]
        secrets_ += [k for k in custodial_keys(self.stack.data_dir).values()]
        for r in self.responses:
            text = r.text.lower()
            where = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
            if r.status_code >= 400:
                body = r.json()
                assert set(body) == {"code", "message"}, where
                assert isinstance(body["code"], str) and body["code"], where
                assert isinstance(body["message"], str) and body["message"], where
            assert "$argon2" not in text and "password_hash" not in text, where
            assert "ciphertext" not in text and "private" not in text, where
            for s in secrets_:
                assert s.lower() not in text, where


def custodial_keys(data_dir: Path) -> dict[str, str]:
    """address -> raw private key (hex, no 0x), decrypted with the KEK of the data dir."""
    kek = base64.b64decode((data_dir / "keys" / "kek.key").read_text().strip())
    db = sqlite3.connect(f"file:{data_dir / 'service.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT address, nonce, ciphertext FROM custodial_keys").fetchall()
    finally:
        db.close()
    return {
        addr: bytes(open_custodial_key(kek, addr, nonce, ct).key).hex() for addr, nonce, ct in rows
    }
