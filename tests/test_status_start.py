"""`heitje status` without web3: the same report from the same rules, read over plain JSON-RPC.

`heitje status` must start and answer in under 0.3 s (issue 12; `bench/cli_start.py` measures
it), so it imports neither web3 nor eth-account nor pydantic-settings: the bounds come from
`domain.health.HealthSettings` (read as `Settings` reads them), the node from `node.rpc.Rpc`, key
addresses from `node.addresses`. These tests hold each of those equal to what it replaces.
The status of a healthy, a lagging and a stopped stack is in tests/test_health.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from pydantic import ValidationError

from domain.health import HealthSettings, Web3Node, check
from heitje.datadir import DataDir
from heitje.settings import Settings
from node.keys import SERVICE_ROLES, service_key_address, write_key
from node.rpc import HTTPError, ReadTimeout, Rpc, RPCError
from node.token import connect
from store.db import connect as connect_db
from store.db import init_db
from tests.conftest import REPO, cli_env, served

BOUNDS = ("confirmations", "max_indexer_lag_blocks", "max_backlog_age", "min_key_balance_wei")
KEYS = {"minter": "11" * 32, "relayer": "0x" + "7e" * 32}
"""The service keys of the data dir below; the other roles have no key file there."""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----- settings -----


def test_health_settings_are_the_service_settings() -> None:
    for name in BOUNDS:
        ours, theirs = HealthSettings.model_fields[name], Settings.model_fields[name]
        assert (ours.annotation, ours.default) == (theirs.annotation, theirs.default), name
        assert repr(ours.metadata) == repr(theirs.metadata), name


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"HEITJE_CONFIRMATIONS": "3", "heitje_max_backlog_age": "1.5"},
        {"HEITJE_MIN_KEY_BALANCE_WEI": " 12 ", "HEITJE_MAX_INDEXER_LAG_BLOCKS": "0"},
        {"HEITJE_CONFIRMATIONS": "-1"},
        {"HEITJE_MAX_INDEXER_LAG_BLOCKS": "ten"},
        {"HEITJE_MAX_BACKLOG_AGE": ""},
        {"HEITJE_MIN_KEY_BALANCE_WEI": "1.5"},
    ],
)
def test_health_settings_read_the_environment_as_settings_do(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [k for k in os.environ if k.upper().startswith("HEITJE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    url = "http://127.0.0.1:1"
    try:
        expected: Any = HealthSettings.of(Settings(data_dir=tmp_path, rpc_url=url))
    except ValidationError as e:
        expected = [(err["loc"], err["msg"]) for err in e.errors()]
    try:
        got: Any = HealthSettings.from_env(tmp_path, url)
    except ValidationError as e:
        got = [(err["loc"], err["msg"]) for err in e.errors()]
    assert got == expected


# ----- key addresses and hashes -----


def test_a_key_address_is_kept_beside_the_key_and_trusted_only_when_as_new(
    tmp_path: Path,
) -> None:
    """`write_key` keeps the key's address beside it; `service_key_address` reads it, and
    works it out again (eth-account) when it is missing, older than the key, or not an
    address."""
    keys = tmp_path / "keys"
    key = "0x" + "11" * 32
    expected = Account.from_key(bytes.fromhex("11" * 32)).address
    write_key(keys / "minter.key", key)
    assert (keys / "minter.address").read_text().strip() == expected
    assert service_key_address(keys, "minter") == expected
    (keys / "minter.address").write_text("not an address\n")
    os.utime(keys / "minter.address", ns=(0, (keys / "minter.key").stat().st_mtime_ns))
    assert service_key_address(keys, "minter") == expected
    assert (keys / "minter.address").read_text().strip() == expected  # kept again
    other = Account.from_key(bytes.fromhex("22" * 32)).address
    (keys / "minter.address").write_text(other + "\n")
    os.utime(keys / "minter.address", ns=(0, 1))  # older than the key: not trusted
    assert service_key_address(keys, "minter") == expected
    (keys / "minter.address").unlink()
    assert service_key_address(keys, "minter") == expected


# ----- the JSON-RPC client -----


class Node(BaseHTTPRequestHandler):
    """Answers per path: /error a JSON-RPC error, /500 an HTTP error, /slow nothing for 1 s,
    /close an answer without a length that ends with the connection, else chunked results."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/slow":
            time.sleep(1)
            return
        if self.path == "/500":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/error":
            error = {"code": -32601, "message": "no such method"}
            answer = {"jsonrpc": "2.0", "id": request["id"], "error": error}
        else:
            results = {
                "eth_chainId": "0x7a69",
                "eth_getBalance": "0xde0b6b3a7640000",
                "eth_getBlockByNumber": {"number": "0x2a", "timestamp": "0x5f5e100"},
            }
            answer = {"jsonrpc": "2.0", "id": request["id"], "result": results[request["method"]]}
        body = json.dumps(answer).encode()
        if self.path == "/close":  # no length: the answer ends with the connection
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (body[:7], body[7:]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def node_url() -> Iterator[str]:
    with served(Node) as url:
        yield url


def test_rpc_reads_and_refusals(node_url: str) -> None:
    with Rpc(node_url) as node:  # one connection, chunked answers
        assert node.block() == (42, 100_000_000)
        assert node.chain_id() == 31337
        assert node.balance("0x" + "00" * 20) == 10**18
    with Rpc(node_url + "/close") as node:  # a new connection for each call
        assert [node.chain_id(), node.block()[0], node.chain_id()] == [31337, 42, 31337]
    with Rpc(node_url + "/slow", timeout=0.2) as node, pytest.raises(ReadTimeout):
        node.chain_id()
    with Rpc(node_url + "/error") as node, pytest.raises(RPCError) as refused:
        node.chain_id()
    assert refused.value.code == -32601
    with Rpc(node_url + "/500") as node, pytest.raises(HTTPError):
        node.chain_id()
    with Rpc(f"http://127.0.0.1:{closed_port()}") as node, pytest.raises(ConnectionError):
        node.chain_id()
    with Rpc("ws://127.0.0.1:8546") as node, pytest.raises(ValueError):
        node.chain_id()


# ----- the command -----


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A deployed-looking data dir: manifest, service database, two of the service keys, no
    mirror."""
    paths = DataDir(tmp_path / "data")
    paths.root.mkdir()
    paths.manifest.write_text("{}\n")
    init_db(paths.service_db)
    for role, key in KEYS.items():
        write_key(paths.key(role), key)
    return paths.root


def test_status_without_a_chain_reports_as_the_service_does(data_dir: Path) -> None:
    """The command's report (web3 never imported) equals the service's rules over web3."""
    url = f"http://127.0.0.1:{closed_port()}"
    probe = (
        "import sys\nfrom scripts.cli import app\n"
        f"sys.argv = ['heitje', 'status', '--json', '--data-dir', {str(data_dir)!r}, "
        f"'--rpc-url', {url!r}]\n"
        "try:\n    app()\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'web3', 'eth_account', "
        "'eth_utils', 'pydantic_settings', 'requests', 'httpx'})\n"
        "print(code, heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=cli_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stderr.strip().splitlines()[-1] == "1 []", done.stderr
    report = json.loads(done.stdout)

    db = connect_db(DataDir(data_dir).service_db)
    try:
        settings = HealthSettings.of(Settings(data_dir=data_dir, rpc_url=url))
        served = check(settings, Web3Node(connect(url, timeout=10)), None, db)
    finally:
        db.close()
    assert report == served.model_dump(mode="json")

    assert [r["code"] for r in report["reasons"]] == ["chain_unreachable", "mirror_missing"]
    assert report["reasons"][0]["message"] == (
        f"the chain at {url} does not answer (ConnectionError)"
    )
    unreachable = {"ok": False, "reachable": False}
    assert report["chain"] == unreachable | dict.fromkeys(("chain_id", "head", "head_age_seconds"))
    assert report["dispatcher"]["open_intents"] == 0 and report["dispatcher"]["ok"] is True
    addresses = {k["role"]: k["address"] for k in report["keys"]}
    assert addresses == {
        role: Account.from_key(bytes.fromhex(KEYS[role].removeprefix("0x"))).address
        if role in KEYS
        else None
        for role in SERVICE_ROLES
    }
    assert all(k["ok"] is None and k["balance_wei"] is None for k in report["keys"])
