"""The wallet reads' fast path (`api.direct.FastReads`): `GET /wallet` and `GET
/wallet/history` answered before the router must answer exactly as the routes do.

The first tests drive `FastReads` on its own with a stand-in app and read (no stack): what it
answers itself and what it passes on. The rest run against one real stack (`module_stack`):
the same request answered by the fast path and by the route (a request with `Content-Length:
0` always goes through the app's stack, `BodyLimit` and the router) gives the same status,
body and security headers; every session is checked against the session table on each read
(a logged-out token, a disabled account); query integers and `X-Heitje-Time` follow the
routes' rules.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx
import pytest

from api.direct import FastReads, ReadRequest
from api.security import security_headers
from domain.security import SESSION_COOKIE
from heitje.errors import Refused, Throttled
from scripts.stack import Stack
from tests.apiclient import Api
from tests.conftest import fresh

SECURITY = {k.lower(): v for k, v in security_headers("/wallet", hsts=False).items()}


# ----- FastReads on its own -----


class _Inner:
    """The app behind `FastReads`: records what it was passed."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.calls.append(scope.get("path", scope["type"]))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})


class _Services:
    """Stands in for `domain.context.Services`: the stand-in reads never open a context."""


def _scope(
    path: str = "/wallet",
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    query: bytes = b"",
    root_path: str = "",
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "query_string": query,
        "headers": headers or [],
    }


def _run(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _fast(
    read: Any, *, hsts: bool = False, handlers: dict[Any, Any] | None = None
) -> tuple[FastReads, _Inner, list[ReadRequest]]:
    inner = _Inner()
    seen: list[ReadRequest] = []

    async def recording(request: ReadRequest) -> bytes:
        seen.append(request)
        result: bytes = await read(request)
        return result

    app = FastReads(
        inner,
        reads={"/wallet": recording, "/wallet/history": recording},
        services=_Services(),  # type: ignore[arg-type]
        handlers=handlers or {},
        hsts=hsts,
    )
    return app, inner, seen


async def _ok(request: ReadRequest) -> bytes:
    return b'{"ok":true}'


def test_fast_reads_answer_get_with_the_security_headers() -> None:
    for hsts in (False, True):
        app, inner, seen = _fast(_ok, hsts=hsts)
        start, body = _run(app, _scope(headers=[(b"authorization", b"Bearer abc")]))
        assert start["status"] == 200
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        expected = {k.lower(): v for k, v in security_headers("/wallet", hsts=hsts).items()}
        assert headers == {"content-length": "11", "content-type": "application/json", **expected}
        assert body["body"] == b'{"ok":true}'
        assert inner.calls == [] and seen[0].token == "abc"


@pytest.mark.parametrize(
    "scope",
    [
        _scope(method="POST"),
        _scope(method="HEAD"),
        _scope(path="/wallet/"),
        _scope(path="/wallets"),
        _scope(path="/payments/received"),
        _scope(root_path="/heitje"),
        _scope(headers=[(b"content-length", b"0")]),
        _scope(headers=[(b"authorization", b"Bearer a"), (b"content-length", b"12")]),
        _scope(headers=[(b"transfer-encoding", b"chunked")]),
    ],
)
def test_fast_reads_pass_everything_else_on(scope: dict[str, Any]) -> None:
    app, inner, seen = _fast(_ok)
    start, body = _run(app, scope)
    assert (start["status"], body["body"]) == (299, b"inner")
    assert inner.calls == [scope["path"]] and seen == []


def test_fast_reads_pass_other_scope_types_on() -> None:
    app, inner, _ = _fast(_ok)
    _run(app, {"type": "lifespan"})
    assert inner.calls == ["lifespan"]


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([(b"authorization", b"Bearer  tok  ")], "tok"),
        ([(b"authorization", b"bearer tok")], "tok"),
        ([(b"authorization", b"Basic dXNlcjpwdw==")], None),
        ([(b"cookie", f"{SESSION_COOKIE}=ck".encode())], "ck"),
        ([(b"cookie", b"a=1"), (b"cookie", f"b=2; {SESSION_COOKIE}=ck2".encode())], "ck2"),
        ([(b"authorization", b"Bearer tok"), (b"cookie", f"{SESSION_COOKIE}=ck".encode())], "tok"),
        ([(b"authorization", b"Bearer   "), (b"cookie", f"{SESSION_COOKIE}=ck".encode())], "ck"),
        ([(b"authorization", b"Bearer one"), (b"authorization", b"Bearer two")], "one"),
        ([], None),
    ],
)
def test_the_session_token_is_read_as_the_routes_read_it(
    headers: list[tuple[bytes, bytes]], token: str | None
) -> None:
    """The bearer token, else the session cookie (`api.deps.caller_of`)."""
    app, _, seen = _fast(_ok)
    _run(app, _scope(headers=headers))
    assert seen[0].token == token


def test_time_header_and_query_integers_reach_the_read() -> None:
    async def read(request: ReadRequest) -> bytes:
        assert request.time == "2026-01-01T00:00:00+01:00"
        assert request.query_int("limit", 1, 500) == 7  # given twice: the last counts
        assert request.query_int("min_block", 0, 10) is None
        return b"[]"

    app, _, seen = _fast(read)
    headers = [(b"x-heitje-time", b"2026-01-01T00:00:00+01:00")]
    start, _ = _run(app, _scope(headers=headers, query=b"limit=3&limit=7"))
    assert start["status"] == 200 and len(seen) == 1


def test_a_refusal_is_answered_by_the_apps_handler_with_the_security_headers() -> None:
    from fastapi.responses import JSONResponse

    async def refuse(request: ReadRequest) -> bytes:
        raise Throttled("login_throttled", "slow down", retry_after=7)

    async def handler(request: Any, exc: Refused) -> JSONResponse:
        return JSONResponse(
            {"code": exc.code, "message": exc.message},
            status_code=exc.http_status,
            headers={"Retry-After": "7", "X-Frame-Options": "SAMEORIGIN"},
        )

    app, _, _ = _fast(refuse, handlers={Refused: handler})
    start, body = _run(app, _scope())
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert start["status"] == 429 and headers["retry-after"] == "7"
    assert headers["x-frame-options"] == "SAMEORIGIN"  # what a response sets itself stays
    assert {k: v for k, v in SECURITY.items() if k != "x-frame-options"}.items() <= (
        headers.items()
    )
    assert body["body"] == b'{"code":"login_throttled","message":"slow down"}'


def test_an_unforeseen_error_goes_on_to_the_server_error_middleware() -> None:
    async def crash(request: ReadRequest) -> bytes:
        raise KeyError("boom")

    async def generic(request: Any, exc: Exception) -> None:  # only ServerErrorMiddleware's
        raise AssertionError("not for FastReads")

    app, _, _ = _fast(crash, handlers={Exception: generic, 500: generic})
    with pytest.raises(KeyError):
        _run(app, _scope())


# ----- against a real stack -----


@pytest.fixture(scope="module")
def api(module_stack: Stack) -> Api:
    return Api(module_stack)


@pytest.fixture(scope="module")
def rich(api: Api) -> str:
    """A citizen rewarded 1.50 HEIT once (one reward in the history), the mirror caught up."""
    api.staff("coco", "coordinator")
    name = fresh("rich")
    api.citizen(name)
    api.wait_registered(name)
    api.reward(fresh("wr-"), "1.50", name)
    api.wallet_synced(name)
    return name


def _get(
    api: Api, path: str, user: str | None = None, *, routed: bool = False, **headers: str
) -> httpx.Response:
    """GET `path` as `user`; `routed`: with `Content-Length: 0`, so through the app's stack."""
    h = dict(headers)
    if routed:
        h["Content-Length"] = "0"
    return api.request("GET", path, user, headers=h)


def _same(fast: httpx.Response, routed: httpx.Response) -> None:
    assert fast.status_code == routed.status_code
    assert fast.content == routed.content
    for name in ("content-type", "content-length", "retry-after", *SECURITY):
        assert fast.headers.get(name) == routed.headers.get(name), name
    for name, value in SECURITY.items():
        assert fast.headers[name] == value


def test_balance_and_history_as_the_routes_answer_them(api: Api, rich: str) -> None:
    wallet = _get(api, "/wallet", rich)
    assert wallet.status_code == 200
    body = wallet.json()
    assert body["username"] == rich and body["address"] == api.addresses[rich]
    assert body["balance"] == "1.50"  # one reward of 1.50 HEIT
    _same(wallet, _get(api, "/wallet", rich, routed=True))
    block = body["as_of_block"]
    for path in (
        "/wallet/history",
        "/wallet/history?limit=1",
        f"/wallet/history?limit=1&min_block={block}",
        f"/wallet?min_block={block}",
    ):
        _same(_get(api, path, rich), _get(api, path, rich, routed=True))
    items = _get(api, "/wallet/history", rich).json()
    assert [(i["kind"], i["amount"]) for i in items] == [("reward", "1.50")]
    api.check_responses()


def test_a_session_cookie_reads_without_a_csrf_token(api: Api, rich: str) -> None:
    token = api.token(rich)
    for path in ("/wallet", "/wallet/history"):
        r = api.http.get(path, headers={"Cookie": f"{SESSION_COOKIE}={token}"})
        assert r.status_code == 200, r.text
        assert r.content == _get(api, path, rich).content


@pytest.mark.parametrize("path", ["/wallet", "/wallet/history"])
def test_refusals_carry_the_security_headers(api: Api, rich: str, path: str) -> None:
    for user, headers, status, code in (
        (None, {}, 401, "unauthorized"),
        (None, {"Authorization": "Bearer not-a-session"}, 401, "unauthorized"),
        ("admin", {}, 409, "no_custodial_wallet"),
    ):
        fast = _get(api, path, user, **headers)
        assert (fast.status_code, fast.json()["code"]) == (status, code)
        _same(fast, _get(api, path, user, routed=True, **headers))
    assert api.request("POST", path, rich).status_code == 405
    api.check_responses()


def test_a_logged_out_token_reads_nothing(api: Api, rich: str) -> None:
    r = api.http.post("/auth/token", json={"username": rich, "password": api.passwords[rich]})
    token = r.json()["access_token"]
    api.http.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert _get(api, "/wallet", **bearer).status_code == 200
    assert api.http.post("/auth/logout", headers=bearer).status_code == 204
    api.http.cookies.clear()
    for path in ("/wallet", "/wallet/history"):
        r = _get(api, path, **bearer)
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")


def test_a_disabled_account_reads_nothing(api: Api, module_stack: Stack) -> None:
    """Disabled while its session is still live: refused on the next read (a citizen, switched
    off in the database; a staff account, by an admin)."""
    citizen = fresh("off")
    api.citizen(citizen)
    assert _get(api, "/wallet", citizen).status_code == 200
    with sqlite3.connect(module_stack.paths.service_db) as db:
        db.execute(
            "UPDATE users SET disabled_at = '2026-01-01T00:00:00+00:00' WHERE username = ?",
            (citizen,),
        )
    db.close()
    staff = fresh("aud")
    api.staff(staff, "auditor")
    assert _get(api, "/wallet", staff).json()["code"] == "no_custodial_wallet"
    assert api.request("POST", f"/staff/{staff}/disable", "admin").status_code == 204
    for user in (citizen, staff):
        for path in ("/wallet", "/wallet/history"):
            r = _get(api, path, user)
            assert (r.status_code, r.json()["code"]) == (401, "unauthorized"), (user, path)
    api.check_responses()


@pytest.mark.parametrize(
    "query",
    [
        "min_block=abc",
        "min_block=-1",
        "min_block=1.5",
        f"min_block={2**63}",
        "min_block=",
        "limit=0",
        "limit=501",
        "limit=x",
        "limit=5&limit=0",
    ],
)
def test_bad_query_integers_are_refused_as_the_routes_refuse_them(
    api: Api, rich: str, query: str
) -> None:
    path = "/wallet/history" if query.startswith("limit") else "/wallet"
    fast = _get(api, f"{path}?{query}", rich)
    assert (fast.status_code, fast.json()["code"]) == (422, "invalid_request")
    _same(fast, _get(api, f"{path}?{query}", rich, routed=True))
    anonymous = _get(api, f"{path}?{query}")  # parameters are checked before the session
    assert anonymous.status_code == 422


@pytest.mark.parametrize(
    ("at", "status"),
    [
        ("yesterday", 422),
        ("2026-06-01T12:00:00", 422),  # no UTC offset
        ("2026-06-01T12:00:00+02:00", 200),
        ("", 200),  # empty: the clock
    ],
)
def test_business_time_follows_the_routes_rules(api: Api, rich: str, at: str, status: int) -> None:
    for path in ("/wallet", "/wallet/history"):
        fast = _get(api, path, rich, **{"X-Heitje-Time": at})
        assert fast.status_code == status, fast.text
        if status == 422:
            assert fast.json()["code"] == "invalid_time"
            # before the session: a bad time is refused even without one
            assert _get(api, path, **{"X-Heitje-Time": at}).json()["code"] == "invalid_time"
        _same(fast, _get(api, path, rich, routed=True, **{"X-Heitje-Time": at}))
