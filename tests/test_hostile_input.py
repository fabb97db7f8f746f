"""Hostile input never crashes the service nor gets a 5xx (issue 9, item 1), over real HTTP
against one stack (`module_stack`), and through the real `heitje` command line.

The defects reproduced: ~100,000-deep JSON killed the API process with a segfault (py_ecc, pulled
in by web3, raises the recursion limit to 100,000 at import; CPython's JSON parser then overflows
the C stack) and `heitje demo --scenario` with such a file exited 139; bodies of any size were
read whole; integers >= 2^256 in `/relay/*` and `offset=-30042496265096519680` gave 500; a
tampered custodial key gave a plain-text 500; the depth check took quadratic time on an
unterminated string of escaped quotes, and counted bytes, so a UTF-16 body hid its brackets.
Expected answers follow from the rules in docs/api.md ("Limits"): bodies at most
HEITJE_MAX_BODY_BYTES (1 MiB = 1,048,576 bytes) else 413 `body_too_large`; JSON at most
HEITJE_MAX_JSON_DEPTH (32) levels deep else 422 `json_too_deep`; a body that may be JSON and
is not UTF-8 400 `json_not_utf8`; integers out of their bound 422 `invalid_request`.
"""

from __future__ import annotations

import json
import random
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from domain.accounts import wallet_claim
from heitje.jsonguard import JsonNotUtf8, JsonTooDeep, check_json_depth, json_depth
from scripts.replay.scenario import InvalidScenario, load_scenario
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, Api
from tests.conftest import fresh, run_heitje

MIB = 1_048_576
DEEP = 100_000


@pytest.fixture(scope="module")
def api(module_stack: Stack) -> Iterator[Api]:
    c = Api(module_stack)
    try:
        yield c
    finally:
        c.close()


def json_operations(stack: Stack) -> list[tuple[str, str]]:
    """(method, path) of every operation of the OpenAPI document that takes a JSON body, path
    parameters filled with "x"."""
    schema = httpx.get(f"{stack.api_url}/openapi.json", timeout=30).json()
    ops = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                filled = "/".join("x" if p.startswith("{") else p for p in path.split("/"))
                ops.append((method.upper(), filled))
    return ops


def alive(stack: Stack) -> None:
    """The API process still runs and answers."""
    assert stack.api.process.poll() is None, "the API process died"
    r = httpx.get(f"{stack.api_url}/health/live", timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "ok"


def refusal(r: httpx.Response) -> tuple[int, str]:
    body = r.json()
    assert set(body) == {"code", "message"}, body
    return r.status_code, body["code"]


def test_deep_json_is_refused_by_every_json_endpoint_and_the_api_stays_up(
    module_stack: Stack, api: Api
) -> None:
    """Before: the first 100,000-deep body (`POST /auth/token`, anonymous) segfaulted the API."""
    deep = ("[" * DEEP + "]" * DEEP).encode()
    ops = json_operations(module_stack)
    assert ("POST", "/auth/token") in ops and ("POST", "/relay/transfer") in ops
    admin = {"Authorization": f"Bearer {api.token('admin')}"}
    with module_stack.client() as http:
        for method, path in ops:
            for headers in ({}, admin):
                r = http.request(
                    method,
                    path,
                    content=deep,
                    headers={**headers, "Content-Type": "application/json"},
                )
                assert refusal(r) == (422, "json_too_deep"), (method, path, r.text)
    alive(module_stack)


def test_json_depth_is_counted_outside_strings_up_to_the_limit(module_stack: Stack) -> None:
    """32 levels pass to validation (a list is not a login: `invalid_request`), 33 are refused
    before parsing; brackets inside strings nest nothing, and without a Content-Type the body
    is still JSON to FastAPI, so it is counted too."""
    with module_stack.client() as http:
        at_limit = http.post("/auth/token", content="[" * 32 + "]" * 32)
        over = http.post("/auth/token", content="[" * 33 + "]" * 33)
        in_string = http.post(
            "/auth/token", json={"username": "[" * 60 + "{" * 4, "password": "]" * 100}
        )
    assert refusal(at_limit) == (422, "invalid_request")
    assert refusal(over) == (422, "json_too_deep")
    assert refusal(in_string) == (401, "invalid_credentials")


def nesting(value: object) -> int:
    """Depth of a parsed JSON value by the definition: arrays and objects add one level."""
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    return 0


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (rb'["\"[", [1]]', 2),  # an escaped quote does not end the string; its "[" nests nothing
        (rb'["\\", [[1]]]', 3),  # an escaped backslash at the end: the quote after it is real
        (rb'["\\\"[[[", 1]', 1),  # backslash pair, then an escaped quote: still in the string
        (rb'{"[[[": "{{{", "k": [["]]]"]]}', 3),  # brackets inside keys and values
        (rb'["\u0022[[[", 1]', 1),  # \u0022 is a quote only once decoded: the string goes on
        (rb'["", "", [""], "\\\\"]', 2),  # empty strings next to each other, escapes only
        ('["€[", ["é{"]]'.encode(), 2),  # multi-byte UTF-8 characters beside brackets
    ],
)
def test_json_depth_follows_strings_and_escapes(text: bytes, depth: int) -> None:
    """Depths worked out by hand from RFC 8259 section 7, checked against the parsed value."""
    assert nesting(json.loads(text)) == depth
    assert json_depth(text) == depth
    assert json_depth(text.decode()) == depth
    assert json_depth(text, stop_above=depth) == depth
    assert json_depth(text, stop_above=depth - 1) == depth  # passed at the deepest bracket


def test_json_depth_of_invalid_json_never_undercounts() -> None:
    """Unterminated strings hide what follows (a parser fails there); a limit stops the count."""
    assert json_depth(b'[["abc[[[[') == 2
    assert json_depth(b'[["abc\\"]]' + b"[" * 40) == 2  # the quote is escaped: still a string
    assert json_depth(b'["\\') == 1  # a lone backslash at the very end
    assert json_depth(b"[" * 100) == 100
    assert json_depth(b"[" * 100, stop_above=32) == 33
    assert json_depth(b"]]]" + b"[[]]") == 2  # a stray closer at depth 0 is no negative level


def lexer_depth(text: bytes) -> tuple[int, int]:
    """Reference: one byte at a time with an in-string flag and an escape flag (RFC 8259
    section 7). Returns (deepest level, where it stopped): it stops at a backslash outside a
    string, where a parser stops too (not JSON)."""
    depth = deepest = 0
    in_string = escaped = False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif in_string:
            escaped = c == ord("\\")
            in_string = c != ord('"')
        elif c == ord("\\"):
            return deepest, i
        elif c == ord('"'):
            in_string = True
        elif c in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in b"]}" and depth:
            depth -= 1
    return deepest, len(text)


def test_json_depth_agrees_with_a_byte_by_byte_lexer() -> None:
    """20,000 random strings of quotes, backslashes and brackets: the same depth as the
    reference lexer, and never less up to where a parser would stop."""
    rng = random.Random(9)
    for _ in range(20_000):
        text = bytes(rng.choice(b'[]{}"\\\\a ') for _ in range(rng.randint(0, 24)))
        deepest, stop = lexer_depth(text)
        if stop == len(text):
            assert json_depth(text) == deepest, text
        else:
            assert json_depth(text) >= deepest, text


def test_an_unterminated_string_of_escaped_quotes_is_counted_in_one_pass() -> None:
    """Before: a regular expression was tried again from every quote of an unterminated string,
    so `"` and `\"` repeated took quadratic time (32 KB 8.5 s; 1 MiB hours, the event loop
    blocked for everyone, anonymously): this test would not finish. Figures in
    bench/json_guard.py."""
    quotes = b'"' + b'\\"' * (MIB // 2)
    assert json_depth(quotes) == 0
    assert json_depth(quotes + b'"' + b"[" * 33 + b"]" * 33) == 33  # closed: then counted
    with pytest.raises(JsonTooDeep):
        check_json_depth(quotes + b'"' + b"[" * 33 + b"]" * 33)
    backslashes = b'["' + b"\\\\" * (MIB // 2) + b'", [[1]]]'
    assert json_depth(backslashes) == 3


# `"∀"` in UTF-16-LE is 22 00 00 22 22 00: three 0x22 bytes, so a count of bytes saw a string
# left open and nothing after it. 100 levels hidden that way reached the parser.
HIDDEN_DEEP = ('["\u2200", ' + "[" * 100 + "]" * 100 + "]").encode("utf-16")


def test_a_body_that_is_not_utf8_is_refused_with_400(module_stack: Stack) -> None:
    """Before: a UTF-16 body passed the depth check with 100 levels (the parser decodes
    UTF-16); RFC 8259 section 8.1: JSON between systems is UTF-8."""
    assert nesting(json.loads(HIDDEN_DEEP)) == 101  # a parser accepts it whole
    with pytest.raises(JsonNotUtf8):
        json_depth(HIDDEN_DEEP)
    latin1 = '{"username": "café", "password": "xxxxxxxx"}'.encode("latin-1")
    with module_stack.client() as http:
        hidden = http.post(
            "/auth/token", content=HIDDEN_DEEP, headers={"Content-Type": "application/json"}
        )
        no_type = http.post("/auth/token", content=latin1)  # no Content-Type: checked too
        utf8 = http.post(
            "/auth/token",
            content=latin1.decode("latin-1").encode(),
            headers={"Content-Type": "application/json"},
        )
    assert refusal(hidden) == (400, "json_not_utf8")
    assert refusal(no_type) == (400, "json_not_utf8")
    assert refusal(utf8) == (401, "invalid_credentials")  # the same text in UTF-8 is read
    alive(module_stack)


def test_a_scenario_file_not_in_utf8_is_refused(tmp_path: Path) -> None:
    """Scenario files follow the same rule (`heitje demo --scenario`: exit 2 with one line)."""
    scenario = tmp_path / "utf16.json"
    scenario.write_bytes(HIDDEN_DEEP)
    with pytest.raises(InvalidScenario, match="must be UTF-8"):
        load_scenario(scenario)


def test_a_body_over_one_mib_is_refused_with_413(module_stack: Stack) -> None:
    """Before: bodies of any size were read whole (a 50 MB payment body was accepted)."""

    def login_body(size: int) -> bytes:
        head, tail = b'{"username": "', b'", "password": "x"}'
        return head + b"a" * (size - len(head) - len(tail)) + tail

    with module_stack.client() as http:
        exactly = http.post("/auth/token", content=login_body(MIB))
        one_more = http.post("/auth/token", content=login_body(MIB + 1))
        two_mib = http.post("/payments", content=b"[" + b"0," * MIB + b"0]")
    # At the limit the body is read and validated: username longer than 64 characters.
    assert refusal(exactly) == (422, "invalid_request")
    assert refusal(one_more) == (413, "body_too_large")
    assert refusal(two_mib) == (413, "body_too_large")
    alive(module_stack)


def test_only_a_caller_with_a_session_may_send_a_photo_sized_body(module_stack: Stack) -> None:
    """The photo routes take up to 32 MiB, but only from a request that shows a session (a
    bearer token or the session cookie): anonymous, the 1 MiB limit holds, so no outsider makes
    the service buffer 32 MiB per request (found by review)."""
    form = {"content-type": "multipart/form-data; boundary=x"}
    body = b"--x\r\n" + b"a" * (2 * MIB) + b"\r\n--x--\r\n"
    with module_stack.client() as http:
        anonymous = http.post("/tasks/any/proof", content=body, headers=form)
        page = http.post("/tasks/any", content=body, headers=form)
        bearer = http.post(
            "/tasks/any/proof", content=body, headers={**form, "authorization": "Bearer nobody"}
        )
    assert refusal(anonymous) == (413, "body_too_large")
    assert refusal(page) == (413, "body_too_large")
    # A token is shown: the body passes the size limit and is parsed (a malformed form here).
    assert refusal(bearer) == (400, "invalid_request")
    alive(module_stack)


def test_a_chunked_body_without_content_length_is_cut_off_at_the_limit(
    module_stack: Stack,
) -> None:
    """A body streamed in chunks declares no length: it is counted as it arrives."""
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"username": "'
        for _ in range(2 * MIB // 65_536):
            sent += 65_536
            yield b"a" * 65_536
        yield b'", "password": "x"}'

    with module_stack.client() as http:
        r = http.post("/auth/token", content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in r.request.headers
        assert r.request.headers["transfer-encoding"] == "chunked"
    assert refusal(r) == (413, "body_too_large")
    alive(module_stack)


def test_a_huge_declared_length_is_refused_before_any_body_arrives(module_stack: Stack) -> None:
    """Content-Length: 100 MiB and no body at all: the answer comes at once, nothing is read."""
    url = urlsplit(module_stack.api_url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=30) as s:
        s.sendall(
            b"POST /payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = s.recv(65_536)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer
    assert json.loads(body)["code"] == "body_too_large"


def own_wallet_shop(api: Api) -> tuple[str, str]:
    """A shop signed up with its own key (its address proven by an EIP-191 signature)."""
    key = Account.create()
    username = fresh("eigen")
    signature = key.sign_message(encode_defunct(text=wallet_claim(key.address, username)))
    r = api.request(
        "POST",
        "/shops",
        json={
            "username": username,
            "password": f"{username}-password",
            "name": "Winkel Eigen",
            "iban": IBAN_BAKKER,
            "address": key.address,
            "signature": "0x" + bytes(signature.signature).hex(),
        },
    )
    assert r.status_code == 201, r.text
    api.passwords[username] = f"{username}-password"
    return username, key.address


def test_integers_past_uint256_in_relay_bodies_are_refused(module_stack: Stack, api: Api) -> None:
    """Before: 2^256 (one past uint256) reached the ABI encoder and gave 500."""
    shop, address = own_wallet_shop(api)
    sig = {"nonce": "0x" + "11" * 32, "v": 27, "r": "0x" + "22" * 32, "s": "0x" + "33" * 32}
    transfer = {"from": address, "to": address, "value": 1, "valid_after": 0,
                "valid_before": 2**40, **sig}  # fmt: skip
    redeem = {"shop": address, "amount": 1, "valid_after": 0, "valid_before": 2**40, **sig}
    cases = [("/relay/transfer", transfer, k) for k in ("value", "valid_after", "valid_before")]
    cases += [("/relay/redeem", redeem, k) for k in ("amount", "valid_after", "valid_before")]
    for path, body, field in cases:
        for huge in (2**256, 2**256 + 12345, 10**100):
            r = api.request("POST", path, shop, json={**body, field: huge})
            assert refusal(r) == (422, "invalid_request"), (path, field, r.text)
            assert field in r.json()["message"], r.text
    alive(module_stack)


@pytest.mark.parametrize(
    "query",
    [
        "offset=-30042496265096519680",
        "offset=-1",
        f"offset={2**63}",
        "limit=0",
        "limit=-5",
        f"limit={2**64}",
    ],
)
def test_out_of_range_query_integers_are_refused(module_stack: Stack, query: str) -> None:
    """Before: `offset=-30042496265096519680` overflowed SQLite's 64-bit integer: 500."""
    with module_stack.client() as http:
        r = http.get(f"/tasks?{query}")
    assert refusal(r) == (422, "invalid_request"), r.text
    assert query.split("=")[0] in r.json()["message"]


def test_out_of_range_path_and_wallet_integers_are_refused(module_stack: Stack, api: Api) -> None:
    who = fresh("hostile")
    api.citizen(who)
    for path in (
        f"/payments/{2**64}",
        "/payments/-30042496265096519680",
        "/payments/0",
        f"/wallet?min_block={2**63}",
        f"/wallet/history?limit={2**70}",
    ):
        assert refusal(api.request("GET", path, who)) == (422, "invalid_request"), path


def test_a_tampered_custodial_key_is_a_json_error_not_a_plain_text_500(
    module_stack: Stack, api: Api
) -> None:
    """Before: a ciphertext changed in service.sqlite gave `Internal Server Error` as text."""
    who = fresh("tamper")
    address = api.citizen(who)["address"]
    shop = fresh("winkel")
    api.shop(shop, IBAN_BAKKER)  # approved by the admin
    db = sqlite3.connect(Path(module_stack.data_dir) / "service.sqlite", timeout=30)
    try:
        (ct,) = db.execute(
            "SELECT ciphertext FROM custodial_keys WHERE address = ?", (address,)
        ).fetchone()
        with db:
            db.execute(
                "UPDATE custodial_keys SET ciphertext = ? WHERE address = ?",
                (bytes([ct[0] ^ 1]) + ct[1:], address),
            )
    finally:
        db.close()
    api.wait_registered(who, shop)
    r = api.request("POST", "/payments", who, json={"to": shop, "amount": "1.00"})
    assert r.headers["content-type"] == "application/json"
    assert refusal(r) == (503, "custodial_key_unreadable")
    alive(module_stack)


def test_a_deep_scenario_file_exits_2_with_one_line(tmp_path: Path) -> None:
    """Before: `heitje demo --scenario` with a 100,000-deep file died with SIGSEGV (exit 139)."""
    scenario = tmp_path / "deep.json"
    scenario.write_text("[" * DEEP + "]" * DEEP)
    done = run_heitje("demo", "--scenario", str(scenario), timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "deeper than 32 levels" in lines[0], done.stderr
