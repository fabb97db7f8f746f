"""`heitje audit`: exit 0 when chain, SQL mirror and settlement files agree; exit 1 listing
each difference when one of them was tampered with."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from node.anvil import Anvil
from scripts.replay.demo import run_demo
from scripts.replay.generate import generate_scenario
from tests.conftest import run_heitje


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A small generated year replayed into a kept data dir, its chain running again."""
    base = tmp_path_factory.mktemp("audit")
    scenario = base / "year.json"
    scenario.write_text(
        json.dumps(generate_scenario(citizens=4, shops=2, tasks=8, months=2, seed=11))
    )
    data_dir = base / "data"
    report = run_demo(scenario, data_dir=data_dir)
    assert report["reconciled"] is True
    assert report["settlement_files"], "the year should settle at least once"
    with Anvil(data_dir) as chain:  # the same chain, from its persisted state
        yield data_dir, chain.rpc_url


def _audit(data_dir: Path, rpc_url: str) -> subprocess.CompletedProcess[str]:
    return run_heitje("audit", "--data-dir", str(data_dir), "--rpc-url", rpc_url)


def test_audit_agrees_after_a_replay(replayed: tuple[Path, str]) -> None:
    data_dir, rpc_url = replayed
    proc = _audit(data_dir, rpc_url)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["reconciled"] is True and summary["differences"] == []
    assert summary["holders_checked"] == 4 + 2


def test_audit_reports_a_tampered_mirror_and_payment_file(
    replayed: tuple[Path, str], tmp_path: Path
) -> None:
    original, rpc_url = replayed
    data_dir = tmp_path / "copy"  # tamper with a copy; the chain is the same
    shutil.copytree(original, data_dir, ignore=shutil.ignore_patterns("chain"))
    conn = sqlite3.connect(data_dir / "mirror.sqlite")
    with conn:
        conn.execute(
            "UPDATE transfers SET amount = amount + 1 WHERE rowid = "
            "(SELECT MAX(rowid) FROM transfers WHERE from_address != "
            "'0x0000000000000000000000000000000000000000')"
        )
    conn.close()
    xml = sorted((data_dir / "settlements").glob("*.xml"))[0]
    text = xml.read_text()
    start = text.index("<InstdAmt")
    end = text.index("</InstdAmt>", start)
    amount = text[text.index(">", start) + 1 : end]
    whole, cents = amount.split(".")
    tampered = text[start:end].replace(f">{amount}", f">{int(whole) + 1}.{cents}")
    xml.write_text(text[:start] + tampered + text[end:])
    # The ledger of the last batch claims one cent more than the chain recorded.
    conn = sqlite3.connect(data_dir / "service.sqlite")
    with conn:
        last = conn.execute("SELECT MAX(batch_id) FROM settlement_batches").fetchone()[0]
        conn.execute(
            "UPDATE settlement_batches SET total_cents = total_cents + 1 WHERE batch_id = ?",
            (last,),
        )
    conn.close()
    # The tampered copy and the original are audited side by side (each run only reads).
    with ThreadPoolExecutor(2) as pool:
        tampered_run, original_run = pool.map(_audit, (data_dir, original), (rpc_url, rpc_url))
    proc = tampered_run
    assert proc.returncode == 1
    differences = [line for line in proc.stderr.splitlines() if line.startswith("difference:")]
    assert any("balance of" in d for d in differences), differences
    assert any(xml.stem in d for d in differences), differences
    assert any(f"settlement {last}:" in d and "on chain" in d for d in differences), differences
    assert original_run.returncode == 0, original_run.stderr  # the original still agrees
