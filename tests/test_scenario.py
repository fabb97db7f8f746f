"""Scenario files: the independent oracle, loading, and the generator of programme years."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from schwifty import IBAN

from heitje.errors import HeitjeError
from scripts.replay.generate import generate_scenario
from scripts.replay.scenario import PayEvent, SettleEvent, load_scenario, parse_scenario
from tests.scenario_oracle import expected_report, replay

REPO = Path(__file__).parents[1]
SHARED = Path(__file__).parents[2] / "shared" / "scenarios"
SHARED_NAMES = ["heerlen-wesh-2022", "edge-cases"]

needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared scenarios folder {SHARED} is absent"
)


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- the oracle --------------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("name", SHARED_NAMES)
def test_oracle_reproduces_shared_expected_results(name: str) -> None:
    scenario = _read(SHARED / f"{name}.json")
    expected = _read(SHARED / f"{name}.expected.json")
    assert expected_report(scenario) == expected


def _tiny(events: list[dict[str, Any]], cap: str = "20.00") -> dict[str, Any]:
    return {
        "format": "heitje-scenario/1",
        "municipality": {"name": "M", "iban": "NL91ABNA0417164300", "eur_per_heitje": "1.00"},
        "policy": {"annual_reward_cap": cap},
        "coordinators": [{"id": "coord-1", "name": "C"}],
        "citizens": [{"id": "cit-1", "name": "A"}],
        "shops": [],
        "tasks": [
            {"id": f"t{i}", "kind": "paint-bin", "title": "Bin", "reward": "15.00"} for i in (1, 2)
        ],
        "events": events,
    }


def _two_tasks_approved_at(first: str, second: str) -> dict[str, Any]:
    before = "2022-12-01T10:00:00+01:00"
    events: list[dict[str, Any]] = []
    for task in ("t1", "t2"):
        events += [
            {"at": before, "type": "publish", "task": task, "by": "coord-1"},
            {"at": before, "type": "claim", "task": task, "citizen": "cit-1"},
            {"at": before, "type": "submit", "task": task, "citizen": "cit-1"},
        ]
    events += [
        {"at": first, "type": "approve", "task": "t1", "by": "coord-1"},
        {"at": second, "type": "approve", "task": "t2", "by": "coord-1"},
    ]
    return _tiny(events)


def test_oracle_counts_the_cap_per_calendar_year_of_the_approval_in_its_own_offset() -> None:
    # 2022-12-31T23:30-01:00 is 2023 in UTC but 2022 where it happened: same year, refused.
    same_year = _two_tasks_approved_at("2022-12-30T10:00:00+01:00", "2022-12-31T23:30:00-01:00")
    assert replay(same_year).rejected == [7]
    assert expected_report(same_year)["accounts"] == {"cit-1": "15.00"}
    next_year = _two_tasks_approved_at("2022-12-30T10:00:00+01:00", "2023-01-01T00:30:00+01:00")
    assert replay(next_year).rejected == []
    assert expected_report(next_year)["minted"] == "30.00"


# --- loading -----------------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("name", SHARED_NAMES)
def test_load_scenario_accepts_the_shared_files(name: str) -> None:
    scenario = load_scenario(SHARED / f"{name}.json")
    raw = _read(SHARED / f"{name}.json")
    assert len(scenario.events) == len(raw["events"])
    assert all(e.at.tzinfo is not None for e in scenario.events)


@needs_shared
def test_load_scenario_keeps_invalid_amounts_as_raw_strings() -> None:
    scenario = load_scenario(SHARED / "edge-cases.json")
    amounts = [e.amount for e in scenario.events if isinstance(e, PayEvent)]
    for bad in ("", "1e3", "abc", "1.005", "-5.00", "0"):
        assert bad in amounts
    pay = next(e for e in scenario.events if isinstance(e, PayEvent))
    assert pay.model_dump(mode="json")["from"] == pay.from_
    settle = next(e for e in scenario.events if isinstance(e, SettleEvent))
    assert settle.through.utcoffset() is not None


def _minimal() -> dict[str, Any]:
    return generate_scenario(citizens=3, shops=2, tasks=4, months=2, seed=5)


def _malformed_cases() -> list[tuple[str, Any]]:
    naive = _minimal()
    naive["events"][0]["at"] = "2022-03-05T09:00:00"
    unknown_type = _minimal()
    unknown_type["events"][0]["type"] = "teleport"
    numeric_amount = _minimal()
    pay = next(e for e in numeric_amount["events"] if e["type"] == "pay")
    pay["amount"] = 5
    missing = _minimal()
    del missing["policy"]
    wrong_format = _minimal()
    wrong_format["format"] = "heitje-scenario/2"
    out_of_order = _minimal()
    out_of_order["events"].reverse()
    duplicate = _minimal()
    duplicate["shops"][1]["id"] = duplicate["citizens"][0]["id"]
    bad_cap = _minimal()
    bad_cap["policy"]["annual_reward_cap"] = "lots"
    return [
        ("naive time", naive),
        ("unknown event type", unknown_type),
        ("numeric amount", numeric_amount),
        ("missing policy", missing),
        ("wrong format", wrong_format),
        ("events out of order", out_of_order),
        ("duplicate account id", duplicate),
        ("invalid cap", bad_cap),
        ("not an object", [1, 2, 3]),
    ]


@pytest.mark.parametrize(("label", "data"), _malformed_cases(), ids=lambda x: str(x)[:24])
def test_load_scenario_rejects_a_malformed_file(tmp_path: Path, label: str, data: Any) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(HeitjeError) as info:
        load_scenario(path)
    assert info.value.code == "invalid_scenario", label
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_load_scenario_rejects_unreadable_and_non_json_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{ not json", encoding="utf-8")
    for path in (garbage, tmp_path / "missing.json"):
        with pytest.raises(HeitjeError) as info:
            load_scenario(path)
        assert info.value.code == "invalid_scenario"
        assert "\n" not in str(info.value)


def test_load_scenario_tolerates_unknown_fields(tmp_path: Path) -> None:
    data = _minimal()
    data["x-comment"] = "made by hand"
    data["shops"][0]["opening_hours"] = "9-17"
    data["events"][0]["note"] = "first"
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert len(load_scenario(path).events) == len(data["events"])


# --- the generator -----------------------------------------------------------------------


def test_generate_scenario_is_deterministic_per_seed() -> None:
    assert generate_scenario(seed=11) == generate_scenario(seed=11)
    assert generate_scenario(seed=11) != generate_scenario(seed=12)


def test_generated_shape_follows_the_arguments() -> None:
    data = generate_scenario(citizens=10, shops=3, tasks=20, months=4, annual_cap="300")
    assert (len(data["citizens"]), len(data["shops"]), len(data["tasks"])) == (10, 3, 20)
    assert data["policy"]["annual_reward_cap"] == "300.00"
    settles = [e for e in data["events"] if e["type"] == "settle"]
    throughs = sorted({e["through"] for e in settles})
    assert [t[:10] for t in throughs] == ["2022-03-31", "2022-04-30", "2022-05-31", "2022-06-30"]
    assert all(e["at"][11:16] == "23:30" and e["through"][11:16] == "23:00" for e in settles)


@pytest.mark.parametrize("seed", [2022, 1, 99])
def test_every_generated_iban_passes_schwifty_with_a_matching_bic(seed: int) -> None:
    data = generate_scenario(seed=seed, shops=30)
    accounts = [*data["shops"], data["municipality"]]
    for account in accounts:
        iban = IBAN(account["iban"], validate_bban=True)
        assert iban.country_code == "NL"
        assert str(iban.bic) == account["bic"]


def test_generated_events_are_in_time_order_with_amsterdam_offsets() -> None:
    data = generate_scenario(months=12, tasks=120)
    amsterdam = ZoneInfo("Europe/Amsterdam")
    times = [datetime.fromisoformat(e["at"]) for e in data["events"]]
    assert times == sorted(times)
    for t in times:
        assert t.utcoffset() == t.astimezone(amsterdam).utcoffset()


@pytest.mark.parametrize("seed", [2022, 3, 4])
def test_a_generated_year_is_mostly_valid(seed: int) -> None:
    data = generate_scenario(seed=seed, tasks=200, citizens=40)
    r = replay(data)
    refused = len(r.rejected) + len(r.noop_or_rejected)
    assert refused <= 0.03 * len(data["events"])
    assert r.rejected_registrations == []
    report = expected_report(data)
    assert report["minted"] != "0.00" and report["settled_eur"] != "0.00"
    assert len(report["settlements"]) >= 6


def test_a_generated_year_without_invalid_share_refuses_nothing() -> None:
    r = replay(generate_scenario(seed=8, invalid_share=0.0))
    assert r.rejected == []
    assert set(r.why.values()) <= {"nothing_to_settle"}


def test_generated_year_round_trips_through_load_scenario(tmp_path: Path) -> None:
    data = generate_scenario(seed=21, invalid_share=0.05)
    path = tmp_path / "year.json"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.model_dump(mode="json", exclude_unset=True) == data
    assert parse_scenario(data) == scenario


def test_generate_scenario_scales_to_a_large_programme() -> None:
    began = time.perf_counter()
    data = generate_scenario(citizens=5000, tasks=50_000, months=12)
    assert time.perf_counter() - began < 10
    assert len(data["events"]) > 200_000


def test_example_year_matches_the_generator() -> None:
    path = REPO / "scenarios" / "example-year.json"
    assert _read(path) == generate_scenario(seed=2022)
