"""The authorization matrix (issue 9, item 6): every endpoint documented in docs/api.md, sent
anonymously and as each role, over real HTTP against one stack; the expected cells come from
the docs' **who** column, not from this file.

A who cell starts with the fixed vocabulary docs/api.md explains above its endpoint table:
`public` (anyone, no login), `logged in` (any account), or role names (`citizen`, `shop`,
`coordinator`, `finance`, `auditor`, `admin`) joined by `,` or `or`; words in parentheses
narrow it by the resource (`shop (own wallet)`, `citizen (the one who claimed it)`) and are
checked by the domain tests, not here. For each cell:

- a caller the cell allows is not refused for who they are: no 401 or 403 (and no 500);
- anonymous where a login is needed gets 401 `unauthorized` (a page form: 403 `csrf_failed`,
  it has no session to take a token from); a logged-in caller whose role the cell does not
  name gets 403 `forbidden`.

Requests are shaped so that only authorization can decide them: path parameters name nothing
that exists (`no-such-...`, id 999999999) and unsafe methods send `{}` (invalid for every
route with a body). An allowed caller then gets 404 or 422 or the answer; a route that looked
the resource up or validated the body before checking the caller would answer a refused caller
404/422 and fail its cell. API rows use bearer tokens (no CSRF applies); page rows (the pages
table of docs/api.md) use the session cookie with the page's CSRF token, as a browser would.
Rows that end sessions (logouts) get a session of their own per cell and run last.

The defect reproduced: the matrix of the issue (184 cells) was written by hand, so routes added
since and any drift between the docs and the code went unchecked. A new row in docs/api.md is
a new set of cells here with no change to this file.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.security import SESSION_COOKIE, csrf_token
from scripts.stack import Stack
from tests.apiclient import IBAN_KAPPER, Api
from tests.conftest import fresh

REPO = Path(__file__).resolve().parents[1]
API_MD = REPO / "docs" / "api.md"

ROLES = ("citizen", "shop", "coordinator", "finance", "auditor", "admin")
CALLERS = ("anonymous", *ROLES)
STAFF = ("coordinator", "finance", "auditor", "admin")
VOCABULARY = {"public": frozenset(CALLERS), "logged in": frozenset(ROLES)} | {
    role: frozenset({role}) for role in ROLES
}
"""The words a who cell may start with, and the callers each allows."""

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
SESSION_ENDERS = {"/auth/logout", "/auth/logout-all", "/logout"}
"""Paths that end the caller's sessions: each cell gets a session of its own, and runs last."""

LOGIN_CSRF_COOKIE = "heitje_login_csrf"  # web.pages: the login form's double-submit cookie

KNOWN_DISAGREEMENTS: dict[tuple[str, str, str], str] = {}
"""(method, path, caller) -> why the code answers otherwise than docs/api.md says. Each is an
xfail(strict): fixing the code makes it pass, which fails the run until the entry is removed."""


# ----- docs/api.md -> rows -----------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One endpoint of docs/api.md: `kind` "api" (the endpoint table) or "page"."""

    kind: str
    method: str
    path: str
    who: str
    allowed: frozenset[str] | None  # None: the who cell is not in the vocabulary

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def parse_who(cell: str) -> frozenset[str] | None:
    """The callers a who cell allows, or None when it does not use the vocabulary.

    Parenthesised words are dropped (they narrow by resource); the rest is split on `,` and
    `or`, each part one vocabulary entry."""
    text = cell.replace("`", "").replace("*", "").strip().lower()
    while True:
        bare = re.sub(r"\([^()]*\)", "", text)
        if bare == text:
            break
        text = bare
    parts = [p.strip() for p in re.split(r",|\bor\b", text)]
    if not parts or any(p not in VOCABULARY for p in parts):
        return None
    allowed: frozenset[str] = frozenset()
    for p in parts:
        allowed |= VOCABULARY[p]
    return allowed


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row (`\\|` inside a cell is no separator)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def parse_rows(text: str) -> list[Row]:
    """The rows of every table of `text` with a `who` column: endpoint tables (`method`,
    `path` columns) and page tables (a `page` column holding `METHOD /path`)."""
    rows: list[Row] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        header = lines[i]
        if not (
            header.startswith("|")
            and i + 1 < len(lines)
            and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip())
        ):
            i += 1
            continue
        names = [c.lower() for c in _cells(header)]
        i += 2
        body = []
        while i < len(lines) and lines[i].startswith("|"):
            body.append(_cells(lines[i]))
            i += 1
        if "who" not in names:
            continue
        who_at = names.index("who")
        for cells in body:
            if len(cells) <= who_at:
                continue
            if "method" in names and "path" in names:
                kind = "api"
                method = cells[names.index("method")].strip("`")
                path = cells[names.index("path")].strip("`")
            elif "page" in names:
                kind = "page"
                method, _, path = cells[names.index("page")].strip("`").partition(" ")
            else:
                continue
            if method in METHODS and path.startswith("/"):
                who = cells[who_at]
                rows.append(Row(kind, method, path, who, parse_who(who)))
    return rows


ROWS = parse_rows(API_MD.read_text())


def _order(row: Row) -> tuple[bool, str, str]:
    return (row.path in SESSION_ENDERS, row.kind, row.name)


CELLS = [
    pytest.param(
        row,
        caller,
        id=f"{row.name} as {caller}",
        marks=(
            [pytest.mark.xfail(strict=True, reason=KNOWN_DISAGREEMENTS[key])]
            if (key := (row.method, row.path, caller)) in KNOWN_DISAGREEMENTS
            else []
        ),
    )
    for row in sorted(ROWS, key=_order)
    for caller in CALLERS
]


# ----- the matrix itself -------------------------------------------------------------------------


def test_docs_api_md_has_the_tables() -> None:
    """The parser found the endpoint table and the pages table (a renamed column would
    otherwise empty the matrix silently)."""
    names = {(r.kind, r.name) for r in ROWS}
    assert ("api", "POST /tasks/{ref}/approve") in names
    assert ("api", "GET /audit/totals") in names
    assert ("page", "GET /") in names
    assert ("page", "POST /login") in names
    assert len([r for r in ROWS if r.kind == "api"]) >= 30
    assert len(names) == len(ROWS), "a row is documented twice"


def test_every_who_cell_uses_the_vocabulary() -> None:
    bad = [f"{r.name}: {r.who!r}" for r in ROWS if r.allowed is None]
    assert not bad, (
        "who cells of docs/api.md must start with `public`, `logged in` or role names "
        f"({', '.join(ROLES)}) joined by `,`/`or`, details in parentheses: " + "; ".join(bad)
    )


def test_every_route_of_the_app_is_in_the_matrix(tmp_path: Path) -> None:
    """Every route the app serves (the OpenAPI ones, the pages, liveness) has a row, so none
    escapes the matrix; FastAPI's own documentation routes excepted."""
    from fastapi.routing import APIRoute
    from pydantic import SecretStr
    from starlette.routing import Route

    from api.app import create_app
    from heitje.settings import Settings

    settings = Settings(
        kek=SecretStr(base64.b64encode(os.urandom(32)).decode()),
        data_dir=tmp_path,
        dispatcher=False,
    )
    app = create_app(settings)
    served = set()
    for route in app.routes:
        if isinstance(route, APIRoute | Route) and route.path not in {
            "/openapi.json",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
        }:
            served |= {f"{m} {route.path}" for m in (route.methods or set()) if m != "HEAD"}
    documented = {r.name for r in ROWS}
    missing = sorted(served - documented)
    assert not missing, "routes without a row (and a who cell) in docs/api.md: " + ", ".join(
        missing
    )


class Callers:
    """One account of each role on the stack (the shop approved by the admin) and their
    session tokens."""

    def __init__(self, stack: Stack) -> None:
        self.api = Api(stack)
        self.users = {"admin": "admin"}
        for role in ("coordinator", "finance", "auditor"):
            self.users[role] = fresh(f"az{role}")
            self.api.staff(self.users[role], role)
        self.users["citizen"] = fresh("azcitizen")
        self.api.citizen(self.users["citizen"])
        self.users["shop"] = fresh("azshop")
        self.api.shop(self.users["shop"], IBAN_KAPPER)  # approved: a shop as shops are

    def session(self, caller: str, *, own: bool) -> str | None:
        """A session token of `caller` (None for anonymous): the shared one, or with `own`
        a new one (for cells that end sessions), after which the shared one is dropped too
        (`logout-all` ends it)."""
        if caller == "anonymous":
            return None
        user = self.users[caller]
        if not own:
            return self.api.token(user)
        self.api.tokens.pop(user, None)
        token = self.api.token(user)
        self.api.tokens.pop(user, None)
        return token


@pytest.fixture(scope="module")
def callers(module_stack: Stack) -> Iterator[Callers]:
    c = Callers(module_stack)
    try:
        yield c
    finally:
        c.api.close()


DUMMY = {"ref": "no-such-task", "username": "no-such-user"}


def fill(path: str) -> str:
    """`path` with every `{parameter}` naming nothing that exists: ids 999999999, others
    `no-such-<name>` (or `DUMMY`)."""

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "id" or name.endswith("_id"):
            return "999999999"
        return DUMMY.get(name, f"no-such-{name.replace('_', '-')}")

    return re.sub(r"\{(\w+)\}", value, path)


def send(callers: Callers, row: Row, caller: str) -> httpx.Response:
    """The request of one cell: bearer token for API rows, session cookie and CSRF form token
    for pages; `{}` / a form with dummy fields for unsafe methods."""
    token = callers.session(caller, own=row.path in SESSION_ENDERS)
    http = callers.api.http
    unsafe = row.method != "GET"
    try:
        if row.kind == "api":
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return http.request(
                row.method, fill(row.path), headers=headers, json={} if unsafe else None
            )
        csrf = csrf_token(token) if token else secrets.token_urlsafe(24)
        cookies = {LOGIN_CSRF_COOKIE: csrf} | ({SESSION_COOKIE: token} if token else {})
        cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items())
        # Every form field but the login's (a login costs an argon2 verification: the login
        # cells get 422 for everyone, as `POST /auth/token` with `{}`).
        form = {"csrf_token": csrf, "to": "no-such-user", "amount": "1.00"}
        return http.request(
            row.method,
            fill(row.path),
            headers={"Cookie": cookie_header},
            data=form if unsafe else None,
        )
    finally:
        http.cookies.clear()


def _code(r: httpx.Response) -> str | None:
    try:
        body: Any = r.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


@pytest.mark.parametrize(("row", "caller"), CELLS)
def test_cell(callers: Callers, row: Row, caller: str) -> None:
    assert row.allowed is not None, f"who cell {row.who!r} is not in the vocabulary"
    r = send(callers, row, caller)
    got = f"{r.status_code} {_code(r)}"
    if caller in row.allowed:
        assert r.status_code not in (401, 403), (
            f"{row.name} allows {caller} (docs: {row.who!r}) but answered {got}: {r.text[:200]}"
        )
        assert r.status_code != 500, f"{row.name} as {caller}: {got}"
    elif row.kind == "page" and "text/html" in r.headers.get("content-type", ""):
        # A page refuses with a page: the login form (401) or the page saying it is not for
        # the caller's role (403), in HTML, so with no `code`.
        expected = 401 if caller == "anonymous" else 403
        assert r.status_code in (expected, 403), (
            f"{row.name} is not for {caller} (docs: {row.who!r}) but answered {got}"
        )
    elif caller == "anonymous":
        # A page form without a session cannot carry its CSRF token: 403 `csrf_failed` (docs).
        refusals = {(401, "unauthorized")} | (
            {(403, "csrf_failed")} if row.kind == "page" else set()
        )
        assert (r.status_code, _code(r)) in refusals, (
            f"{row.name} needs a login (docs: {row.who!r}); anonymous got {got}"
        )
    else:
        assert (r.status_code, _code(r)) == (403, "forbidden"), (
            f"{row.name} is not for {caller} (docs: {row.who!r}) but answered {got}"
        )
