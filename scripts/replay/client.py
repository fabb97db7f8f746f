"""The one HTTP client of the API, used by the demo replay, the tests and the benchmarks.

It drives the API as people's own apps would: one bearer token per user (the one a sign-up
answered with, `adopt`, or logged in on first use with the password it was told), optional
business time (`X-Heitje-Time`, rehearsal mode only), and every response kept when `keep` is
set so a caller can check them all afterwards.
`call` answers the JSON body, or a `Refusal` with the API's stable `code` and message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx


@dataclass
class Refusal:
    """A 4xx/5xx answer: the API's stable `code` and its human message."""

    code: str
    message: str


class Client:
    """HTTP client of the API at `base_url`, one bearer token per user."""

    def __init__(self, base_url: str, *, timeout: float = 60.0, keep: bool = False) -> None:
        self.base_url = base_url
        self.tokens: dict[str, str] = {}
        self.passwords: dict[str, str] = {}
        self.responses: list[httpx.Response] = []
        self.timeout = timeout
        self.keep = keep
        self.http = self.connection()

    def connection(self) -> httpx.Client:
        """A new connection pool to the API with this client's settings (responses kept the
        same way): pass it as `via` to send from another thread."""
        hooks = {"response": [self._keep]} if self.keep else {}
        return httpx.Client(base_url=self.base_url, timeout=self.timeout, event_hooks=hooks)

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(response)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def adopt(self, user: str, answer: dict[str, Any] | list[Any] | Refusal) -> None:
        """Keep the bearer token a sign-up answered with (`access_token`) as `user`'s, so no
        log-in is needed; an answer without one (or a refusal) changes nothing."""
        if isinstance(answer, dict) and isinstance(answer.get("access_token"), str):
            self.tokens[user] = answer["access_token"]

    def login(self, user: str) -> str | Refusal:
        """The bearer token of `user` (POST /auth/token on first use), or the refusal."""
        if user in self.tokens:
            return self.tokens[user]
        if user not in self.passwords:
            return Refusal("unknown_account", f"no account named {user!r}")
        r = self.http.post("/auth/token", json={"username": user, "password": self.passwords[user]})
        self.http.cookies.clear()  # the session cookie must never stand in for a bearer token
        if r.status_code != 200:
            body = r.json()
            return Refusal(body.get("code", "login_failed"), body.get("message", r.text))
        token: str = r.json()["access_token"]
        self.tokens[user] = token
        return token

    def request(
        self,
        method: str,
        path: str,
        user: str | None = None,
        *,
        json: dict[str, Any] | None = None,
        at: datetime | str | None = None,
        headers: dict[str, str] | None = None,
        via: httpx.Client | None = None,
    ) -> httpx.Response:
        """One request as `user` (bearer token) or anonymous; `at` becomes X-Heitje-Time; `via`
        sends it over another connection pool (e.g. one per thread). Raises `PermissionError`
        when `user` cannot log in."""
        h = dict(headers or {})
        if user is not None:
            token = self.login(user)
            if isinstance(token, Refusal):
                raise PermissionError(f"{user} cannot log in: {token.code}: {token.message}")
            h["Authorization"] = f"Bearer {token}"
        if at is not None:
            h["X-Heitje-Time"] = at if isinstance(at, str) else at.isoformat()
        http = via or self.http
        r = http.request(method, path, json=json, headers=h)
        http.cookies.clear()
        return r

    def call(
        self,
        user: str | None,
        method: str,
        path: str,
        *,
        at: datetime | str | None = None,
        body: dict[str, Any] | None = None,
        via: httpx.Client | None = None,
    ) -> dict[str, Any] | list[Any] | Refusal:
        """`request`, answering the JSON body, or a `Refusal` for an error status or a user
        who cannot log in."""
        if user is not None:
            token = self.login(user)
            if isinstance(token, Refusal):
                return token
        r = self.request(method, path, user, json=body, at=at, via=via)
        data = r.json() if r.content else {}
        if r.status_code >= 400:
            return Refusal(data.get("code", f"http_{r.status_code}"), data.get("message", r.text))
        result: dict[str, Any] | list[Any] = data
        return result
