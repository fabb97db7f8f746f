"""Shared helpers of the benchmarks: paths, the larger generated year, machine load, output.

Benchmarks print figures; they never assert timings. Figures are only comparable on a quiet
machine, so every benchmark prints the load average next to its figures.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
HEITJE = VENV_BIN / "heitje"
DEFAULT_SCENARIO = REPO / "scenarios" / "example-year.json"

if str(REPO) not in sys.path:  # run as `python bench/x.py`: the rooms are importable from REPO
    sys.path.insert(0, str(REPO))

# The larger generated year (sizes given in the benchmark brief); the default year is
# 24 citizens, 8 shops, 48 tasks, 9 months, about 300 events.
FIGURE = "   * "  # prefix of figure lines

LARGE = {"citizens": 200, "shops": 20, "tasks": 600, "months": 12, "seed": 2022}


def large_label() -> str:
    return (
        "generated year (citizens={citizens}, shops={shops}, tasks={tasks}, "
        "months={months}, seed={seed})"
    ).format(**LARGE)


def write_large_scenario(directory: Path) -> tuple[Path, int]:
    """Write the larger generated year to `directory`; returns (path, number of events)."""
    from scripts.replay.generate import generate_scenario

    data = generate_scenario(
        citizens=LARGE["citizens"],
        shops=LARGE["shops"],
        tasks=LARGE["tasks"],
        months=LARGE["months"],
        seed=LARGE["seed"],
    )
    path = directory / "large-year.json"
    path.write_text(json.dumps(data))
    return path, len(data["events"])


def scenario_events(path: Path) -> int:
    return len(json.loads(path.read_text())["events"])


def loadavg() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f} (1/5 min, {os.cpu_count()} cores)"


def header(title: str) -> None:
    print(f"== {title}", flush=True)
    print(f"     started {time.strftime('%Y-%m-%d %H:%M:%S')}, load {loadavg()}", flush=True)


def footer(title: str) -> None:
    print(
        f"     finished {time.strftime('%Y-%m-%d %H:%M:%S')}, load {loadavg()} [{title}]",
        flush=True,
    )


def figure(label: str, value: str) -> None:
    """One result line, `* label: value` (bench/run.py collects these into its summary)."""
    print(f"{FIGURE}{label}: {value}", flush=True)


def note(text: str) -> None:
    """A line of context for the figures (not collected into the summary)."""
    print(f"     {text}", flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def log(message: str) -> None:
    """Progress on stderr (figures go to stdout)."""
    print(message, file=sys.stderr, flush=True)
