"""The replay's set-up over HTTP: the admin makes the staff accounts while every citizen and
shop signs up, a few at a time (see `Replayer.setup`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from heitje.errors import HeitjeError
from scripts.replay.client import Client, Refusal
from scripts.replay.scenario import Scenario

SIGN_UP_THREADS = 2
"""Sign-ups sent at once (each costs the API an argon2id hash, about 0.2 s of one core's CPU,
outside its write lock: two keep both cores of a small machine busy)."""


@dataclass(frozen=True)
class SignUp:
    """One citizen's or shop's sign-up: `path` /citizens or /shops, and the body sent."""

    username: str
    path: str
    password: str
    body: dict[str, Any]


def sign_ups(scenario: Scenario) -> list[SignUp]:
    """Every citizen's, then every shop's sign-up, in the scenario's order, each with a new
    random password."""
    out: list[SignUp] = []
    for cit in scenario.citizens:
        pw = secrets.token_urlsafe(16)
        body = {"username": cit.id, "password": pw, "name": cit.name}
        body["neighbourhood"] = cit.neighbourhood or ""
        out.append(SignUp(cit.id, "/citizens", pw, body))
    for shop in scenario.shops:
        pw = secrets.token_urlsafe(16)
        body = {"username": shop.id, "password": pw, "name": shop.name}
        body |= {"category": shop.category, "iban": shop.iban}
        if shop.bic:
            body["bic"] = shop.bic
        out.append(SignUp(shop.id, "/shops", pw, body))
    return out


def send_sign_ups(
    c: Client, todo: list[SignUp], meanwhile: Callable[[], None], threads: int = SIGN_UP_THREADS
) -> list[dict[str, Any] | list[Any] | Refusal]:
    """Send every sign-up of `todo`, `threads` at a time (each thread its own connection
    pool), while `meanwhile` runs in this thread; the answers in `todo`'s order."""
    connections = [c.connection() for _ in range(threads)]
    free = list(connections)

    def send(s: SignUp) -> dict[str, Any] | list[Any] | Refusal:
        via = free.pop()
        try:
            return c.call(None, "POST", s.path, body=s.body, via=via)
        finally:
            free.append(via)

    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="sign-up") as pool:
            answers = [pool.submit(send, s) for s in todo]
            meanwhile()
            return [a.result() for a in answers]
    finally:
        for connection in connections:
            connection.close()


def make_staff(c: Client, scenario: Scenario) -> None:
    """The admin creates the staff accounts (every coordinator, finance, auditor); those that
    act (the auditor, who reads the outbox, and each `by` of an event) log in. Raises
    `HeitjeError` with the API's code when an account cannot be made."""
    staff = [(co.id, co.name, "coordinator") for co in scenario.coordinators]
    staff += [("finance", "Finance officer", "finance"), ("auditor", "Auditor", "auditor")]
    for username, name, role in staff:
        pw = secrets.token_urlsafe(16)
        body = {"username": username, "password": pw, "name": name, "role": role}
        r = c.call("admin", "POST", "/staff", body=body)
        if isinstance(r, Refusal):
            raise HeitjeError(f"could not create {username}: {r.message}", code=r.code)
        c.passwords[username] = pw
    acting = {"auditor"} | {str(b) for ev in scenario.events if (b := getattr(ev, "by", None))}
    for username, _, _ in staff:
        if username in acting:
            c.login(username)  # a refusal shows again at the account's first event
