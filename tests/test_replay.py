"""End to end: scenario years replayed through chain, API, indexer and settlement (`heitje
demo`), compared with the expected results worked out independently from the rules."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from domain.settlement import read_pain001
from heitje.money import format_eur
from scripts.stack import HEITJE_COMMAND
from tests.conftest import REPO, shared_scenario
from tests.scenario_oracle import expected_report

pytestmark = pytest.mark.slow


def _replay(scenario: Path, data_dir: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [
            *HEITJE_COMMAND,
            "demo",
            "--scenario",
            str(scenario),
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def _check(
    report: dict[str, Any], expected: dict[str, Any], scenario: dict[str, Any], data_dir: Path
) -> None:
    assert report["reconciled"] is True, report.get("differences")
    assert report["accounts"] == expected["accounts"]
    for key in ("minted", "redeemed", "total_supply", "settled_eur"):
        assert report[key] == expected[key], key
    refused = {r["index"] for r in report["rejected"]}
    must = set(expected["rejected_events"])
    may = set(expected["noop_or_rejected_events"])
    assert must <= refused, f"not refused: {sorted(must - refused)}"
    assert refused <= must | may, f"wrongly refused: {sorted(refused - must - may)}"
    for r in report["rejected"]:
        assert r["code"] and r["message"]
    assert [r["id"] for r in report["rejected_registrations"]] == expected["rejected_registrations"]
    # Every payment in the settlement files, per settle event, per shop.
    shop_by_iban = {s["iban"].replace(" ", "").upper(): s["id"] for s in scenario["shops"]}
    paid = []
    for rel in report["settlement_files"]:
        path = data_dir / rel
        per_shop = {shop_by_iban[p.creditor_iban]: format_eur(p.cents) for p in read_pain001(path)}
        paid.append(per_shop)
        with open(path.with_suffix(".csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        assert {r["shop_id"]: r["eur"] for r in rows} == per_shop
    assert paid == expected["settlements"]


@pytest.mark.parametrize("name", ["edge-cases", "heerlen-wesh-2022"])
def test_shared_scenario_replays_exactly(name: str, tmp_path: Path) -> None:
    path, expected = shared_scenario(name)
    data_dir = tmp_path / "data"
    report = _replay(path, data_dir)
    _check(report, expected, json.loads(path.read_text()), data_dir)


def test_example_year_replays_as_the_rules_say(tmp_path: Path) -> None:
    path = REPO / "scenarios" / "example-year.json"
    scenario = json.loads(path.read_text())
    expected = expected_report(scenario)  # independent model of the scenario rules
    data_dir = tmp_path / "data"
    report = _replay(path, data_dir)
    _check(report, expected, scenario, data_dir)
