"""A citizen's or shop's sign-up answers with a session of the new account (docs/api.md,
`POST /citizens`, `POST /shops`): its bearer token works at once, no cookie is set, and
logging in with the password still works as before."""

from __future__ import annotations

import secrets

import httpx

from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER

SESSION_SECONDS = 12 * 3600
"""A session's lifetime: `HEITJE_SESSION_HOURS` (default 12, not set by the test stacks)."""


def _me(http: httpx.Client, token: str) -> httpx.Response:
    return http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_citizen_sign_up_answers_with_a_working_session(module_stack: Stack) -> None:
    pw = secrets.token_urlsafe(12)
    body = {"username": "sessie", "password": pw, "name": "Sessie Jansen"}
    with module_stack.client() as http:
        r = http.post("/citizens", json=body)
        assert r.status_code == 201, r.text
        signed_up = r.json()
        assert "set-cookie" not in r.headers
        assert signed_up["username"] == "sessie"
        assert signed_up["role"] == "citizen"
        assert signed_up["registered"] is False
        assert signed_up["token_type"] == "bearer"
        assert signed_up["expires_in"] == SESSION_SECONDS
        token = signed_up["access_token"]
        assert pw not in r.text
        me = _me(http, token)
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "sessie"
        assert me.json()["address"] == signed_up["address"]
        # The old flow: logging in with the password gives another session; both work.
        login = http.post("/auth/token", json={"username": "sessie", "password": pw})
        assert login.status_code == 200, login.text
        http.cookies.clear()
        assert login.json()["access_token"] != token
        assert _me(http, login.json()["access_token"]).status_code == 200
        assert _me(http, token).status_code == 200


def test_shop_sign_up_answers_with_a_session_of_the_pending_shop(module_stack: Stack) -> None:
    body = {
        "username": "sessiewinkel",
        "password": secrets.token_urlsafe(12),
        "name": "Winkel Sessie",
        "category": "food",
        "iban": IBAN_BAKKER,
    }
    with module_stack.client() as http:
        r = http.post("/shops", json=body)
        assert r.status_code == 201, r.text
        assert "set-cookie" not in r.headers
        me = _me(http, r.json()["access_token"])
        assert me.status_code == 200, me.text
        assert (me.json()["username"], me.json()["role"]) == ("sessiewinkel", "shop")


def test_a_refused_sign_up_answers_no_session(module_stack: Stack) -> None:
    body = {"username": "dubbel", "password": secrets.token_urlsafe(12), "name": "Dubbel"}
    with module_stack.client() as http:
        assert http.post("/citizens", json=body).status_code == 201
        again = http.post("/citizens", json={**body, "username": "DUBBEL"})
        assert again.status_code == 409
        assert again.json().keys() == {"code", "message"}
        assert again.json()["code"] == "username_taken"
