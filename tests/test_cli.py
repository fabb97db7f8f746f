"""The real `heitje` command (a child process): help, and one line plus exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scripts.replay.scenario import load_scenario
from tests.conftest import run_heitje

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
