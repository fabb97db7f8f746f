"""The real `heitje` command (a child process): help, and one line plus exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from node.rpc import ReadTimeout, Rpc, RPCError
from scripts.replay.scenario import load_scenario
from tests.conftest import run_heitje, served

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("scenario", "chain", "api", "indexer", "deploy", "settle", "audit", "demo")
MUNICIPALITY = (
    "--municipality-name",
    "Gemeente Heerlen",
    "--municipality-iban",
    "NL91ABNA0417164300",
)


def heitje(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real `heitje` command in `cwd` (the one runner of the tests)."""
    return run_heitje(*args, cwd=cwd, timeout=timeout)


def assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit code 2, nothing on stdout, exactly one line on stderr starting with "heitje:"."""
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("heitje: "), lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    for word in words:
        assert word in lines[0]
    return lines[0]


# --- help ----------------------------------------------------------------------------------------


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = heitje("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize(
    ("group", "sub"),
    [("scenario", "generate"), ("chain", "start"), ("api", "serve"), ("indexer", "run")],
)
def test_help_of_a_group_lists_its_subcommand(tmp_path: Path, group: str, sub: str) -> None:
    result = heitje(group, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sub in result.stdout


def test_no_arguments_shows_help(tmp_path: Path) -> None:
    result = heitje(cwd=tmp_path)
    assert "Usage" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# --- settle --------------------------------------------------------------------------------------


def test_settle_without_a_cut_off_is_refused(tmp_path: Path) -> None:
    result = heitje("settle", "--data-dir", str(tmp_path), *MUNICIPALITY, cwd=tmp_path)
    assert_refused(result, "--through")


def test_settle_without_municipality_is_refused(tmp_path: Path) -> None:
    result = heitje("settle", "--data-dir", str(tmp_path), "--through-block", "1", cwd=tmp_path)
    assert_refused(result, "--municipality")


def test_settle_through_a_non_time_is_refused(tmp_path: Path) -> None:
    result = heitje(
        "settle", "--data-dir", str(tmp_path), "--through", "notatime", *MUNICIPALITY, cwd=tmp_path
    )
    assert_refused(result, "notatime")


def test_settle_through_a_time_without_offset_is_refused(tmp_path: Path) -> None:
    result = heitje(
        "settle",
        "--data-dir",
        str(tmp_path),
        "--through",
        "2022-03-31T23:00:00",
        *MUNICIPALITY,
        cwd=tmp_path,
    )
    assert_refused(result, "offset")


def test_settle_in_an_empty_data_dir_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    result = heitje(
        "settle", "--data-dir", str(data), "--through-block", "5", *MUNICIPALITY, cwd=tmp_path
    )
    assert_refused(result, "service.sqlite")
    assert list(data.iterdir()) == []


def test_settle_with_a_non_number_block_is_a_usage_error(tmp_path: Path) -> None:
    result = heitje("settle", "--through-block", "five", *MUNICIPALITY, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


# --- demo ----------------------------------------------------------------------------------------


def test_demo_with_a_missing_scenario_is_refused(tmp_path: Path) -> None:
    result = heitje("demo", "--scenario", "/nonexistent.json", cwd=tmp_path)
    assert_refused(result, "/nonexistent.json")


@pytest.mark.parametrize(
    "text",
    ['{"format": ', "[]", "{}", '{"format": "heitje-scenario/1"}', "\u00ff not json"],
    ids=["truncated", "list", "empty-object", "no-events", "garbage"],
)
def test_demo_with_a_malformed_scenario_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    result = heitje("demo", "--scenario", str(path), cwd=tmp_path)
    assert_refused(result, "bad.json")


def test_demo_into_a_non_empty_data_dir_is_refused_and_leaves_it_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "keep.txt").write_text("mine")
    result = heitje("demo", "--data-dir", str(data), cwd=tmp_path)
    assert_refused(result, "not empty")
    assert [p.name for p in data.iterdir()] == ["keep.txt"]
    assert (data / "keep.txt").read_text() == "mine"


# --- scenario generate ---------------------------------------------------------------------------


def test_scenario_generate_writes_a_loadable_file(tmp_path: Path) -> None:
    args = (
        "scenario",
        "generate",
        "--out",
        "tmp/x.json",
        "--citizens",
        "3",
        "--shops",
        "2",
        "--tasks",
        "5",
        "--months",
        "2",
    )
    result = heitje(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "tmp" / "x.json"
    scenario = load_scenario(path)
    assert len(scenario.citizens) == 3
    assert len(scenario.shops) == 2
    assert len(scenario.tasks) == 5
    assert scenario.events
    assert json.loads(path.read_text())["format"] == "heitje-scenario/1"
    # Deterministic per seed: a second run writes the same bytes.
    first = path.read_bytes()
    assert heitje(*args, cwd=tmp_path).returncode == 0
    assert path.read_bytes() == first


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (("--start", "notadate"), "notadate"),
        (("--months", "0"), "months"),
        (("--citizens", "0"), "citizens"),
        (("--annual-cap", "abc"), "abc"),
    ],
)
def test_scenario_generate_with_bad_settings_is_refused(
    tmp_path: Path, args: tuple[str, ...], word: str
) -> None:
    result = heitje("scenario", "generate", "--out", "x.json", *args, cwd=tmp_path)
    assert_refused(result, word)
    assert not (tmp_path / "x.json").exists()


def test_scenario_generate_to_an_unwritable_place_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    result = heitje("scenario", "generate", "--out", "a-file/x.json", cwd=tmp_path)
    assert_refused(result, "a-file/x.json")


# --- audit, deploy, indexer, api: no deployment or no chain --------------------------------------


def test_audit_of_an_empty_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    result = heitje("audit", "--data-dir", str(data), cwd=tmp_path)
    assert_refused(result, "deployment")


def test_audit_with_a_malformed_manifest_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "deployment.json").write_text("{not json")
    result = heitje("audit", "--data-dir", str(data), cwd=tmp_path)
    assert_refused(result, "deployment.json")


def _fake_manifest(data: Path) -> None:
    data.mkdir()
    address = "0x" + "00" * 19 + "01"
    (data / "deployment.json").write_text(
        json.dumps(
            {
                "chain_id": 46400,
                "token": address,
                "deploy_block": 1,
                "deploy_tx": "0x" + "00" * 32,
                "artifact_sha256": "0" * 64,
                "compiler": "0.8.30",
                "evm_version": "paris",
                "roles": {"admin": address},
            }
        )
    )


def test_indexer_without_a_chain_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _fake_manifest(data)
    # Port 9 (discard) on loopback: nothing listens there, the connection is refused at once.
    result = heitje(
        "indexer", "run", "--data-dir", str(data), "--rpc-url", "http://127.0.0.1:9", cwd=tmp_path
    )
    assert_refused(result, "127.0.0.1")


def test_deploy_without_keys_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    result = heitje(
        "deploy",
        "--data-dir",
        str(data),
        "--no-dev-keys",
        "--rpc-url",
        "http://127.0.0.1:9",
        cwd=tmp_path,
    )
    assert_refused(result, "admin.key")


def test_deploy_with_dev_keys_but_no_dev_chain_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    result = heitje(
        "deploy", "--data-dir", str(data), "--rpc-url", "http://127.0.0.1:9", cwd=tmp_path
    )
    assert_refused(result, "chain.json")


def test_api_serve_without_a_key_encryption_key_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    result = heitje("api", "serve", "--data-dir", str(data), "--port", "9", cwd=tmp_path)
    assert_refused(result, "key-encryption key")


# --- status without typer's parsing --------------------------------------------------------------

STATUS_ARGS = [
    [],
    ["--json"],
    ["--data-dir", "d1", "--rpc-url", "http://node:1"],
    ["--json", "--data-dir=d2", "--rpc-url=http://node:2/x?y=1"],
    ["--data-dir", "d1", "--data-dir", "d3", "--json", "--json"],
    ["--rpc-url", ""],
    ["--data-dir", ""],
]


def typer_status_params(args: list[str]) -> tuple[Path, str, bool]:
    """What typer's own parsing gives `status_cmd` for `heitje status ARGS`."""
    import typer.main

    from scripts.cli import app

    group = typer.main.get_command(app)
    with group.make_context("heitje", ["status", *args]) as ctx:
        command = group.get_command(ctx, "status")  # type: ignore[attr-defined]
        assert command is not None
        with command.make_context("status", list(args), parent=ctx) as sub:
            p = sub.params
    return p["data_dir"], p["rpc_url"], p["as_json"]


@pytest.mark.parametrize(
    "env",
    [{}, {"HEITJE_DATA_DIR": "e", "HEITJE_RPC_URL": "http://e:3"}, {"HEITJE_DATA_DIR": ""}],
    ids=["no-env", "env", "empty-env"],
)
@pytest.mark.parametrize("args", STATUS_ARGS, ids=lambda a: " ".join(a) or "none")
def test_status_reads_its_arguments_as_typer_does(
    args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`heitje status` is run by `main` without typer's parsing (it starts in under 0.3 s,
    bench/cli_start.py): the same data dir, URL and --json as typer reads from the same
    arguments and HEITJE_* variables."""
    from scripts.cli import _status_argv

    for name in ("HEITJE_DATA_DIR", "HEITJE_RPC_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _status_argv(["status", *args]) == typer_status_params(args)


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--data-dir"], ["--bogus"], ["--json=1"], ["--data-dir", "--json"], ["x"]],
)
def test_status_leaves_other_arguments_to_typer(args: list[str]) -> None:
    from scripts.cli import _status_argv

    assert _status_argv(["status", *args]) is None
    assert _status_argv(["settle", *args]) is None


def test_status_in_a_non_deployed_dir_is_refused(tmp_path: Path) -> None:
    result = heitje("status", "--data-dir", str(tmp_path), cwd=tmp_path)
    assert_refused(result, "deployment.json")
    result = heitje("status", f"--data-dir={tmp_path}", "--json", cwd=tmp_path)
    assert_refused(result, "deployment.json")


# --- status's reads of the node: one round trip ---------------------------------------------------


class BatchNode(BaseHTTPRequestHandler):
    """A JSON-RPC node that answers batches (each item alone), counting the HTTP requests; an
    eth_getBalance of the zero address is refused. /nobatch refuses batches (HTTP 400), /slow
    answers nothing for 1 s."""

    protocol_version = "HTTP/1.1"
    posts: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        BatchNode.posts.append(request)
        if self.path == "/slow":
            time.sleep(1)
            return
        if isinstance(request, list) and self.path == "/nobatch":
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = [self.answer(r) for r in request] if isinstance(request, list) else None
        body = json.dumps(answer or self.answer(request)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    @staticmethod
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        if request["method"] == "eth_getBalance" and request["params"][0] == ZERO:
            error = {"code": -32000, "message": "refused"}
            return {"jsonrpc": "2.0", "id": request["id"], "error": error}
        results = {
            "eth_chainId": "0x7a69",
            "eth_getBlockByNumber": {"number": "0x2a", "timestamp": "0x5f5e100"},
        }
        if request["method"] == "eth_getBalance":  # the last byte of the address, in wei
            results["eth_getBalance"] = "0x" + request["params"][0][-2:]
        return {"jsonrpc": "2.0", "id": request["id"], "result": results[request["method"]]}

    def log_message(self, *args: Any) -> None:
        pass


ZERO = "0x" + "00" * 20


@pytest.fixture
def batch_node() -> Iterator[str]:
    BatchNode.posts = []
    with served(BatchNode) as url:
        yield url


def test_status_asks_the_node_once_for_head_chain_id_and_balances(batch_node: str) -> None:
    one, two = "0x" + "00" * 19 + "01", "0x" + "00" * 19 + "02"
    asked = [
        ("eth_getBlockByNumber", ["latest", False]),
        ("eth_chainId", []),
        ("eth_getBalance", [one, "latest"]),
        ("eth_getBalance", [two, "latest"]),
        ("eth_getBalance", [ZERO, "latest"]),
    ]
    with Rpc(batch_node) as node:
        node.prefetch(asked)
        assert len(BatchNode.posts) == 1 and len(BatchNode.posts[0]) == 5
        assert [node.block(), node.chain_id(), node.balance(two), node.balance(one)] == [
            (42, 100_000_000),
            31337,
            2,
            1,
        ]
        assert len(BatchNode.posts) == 1  # all from the batch
        with pytest.raises(RPCError):  # refused in the batch: asked again, refused again
            node.balance(ZERO)
        assert node.chain_id() == 31337  # each prefetched answer serves once
        assert len(BatchNode.posts) == 3
    with Rpc(batch_node + "/nobatch") as node:  # a node without batches: one call each
        node.prefetch(asked)
        assert [node.chain_id(), node.balance(one)] == [31337, 1]
        assert len(BatchNode.posts) == 6
    with Rpc(batch_node + "/slow", timeout=0.3) as node:  # a time-out is not waited for twice
        node.prefetch(asked)
        start = time.monotonic()
        with pytest.raises(ReadTimeout):
            node.chain_id()
        assert time.monotonic() - start < 0.3
