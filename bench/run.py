"""Run every benchmark (`make bench`) and print a summary of their figures at the end.

Each benchmark runs as its own process with this interpreter (the project's venv), one after
another, so they never compete with each other for the 2 cores. Figures are printed, never
asserted. Takes about 8 minutes on a quiet 2-core machine (the larger year dominates) plus the
chaos run (200 API kills: CHAOS_MINUTES); `--quick` skips the larger year, runs the default
demo once and the chaos benchmark's short run.

    .venv/bin/python bench/run.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _common import FIGURE, loadavg

BENCH = Path(__file__).resolve().parent
ALL = ("demo_walltime", "approvals", "memory", "chaos")


def run(name: str, args: list[str]) -> tuple[int, list[str], float]:
    """Run bench/`name`.py streaming its output; returns (exit code, figure lines, seconds)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / f"{name}.py"), *args],
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    figures: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.startswith(FIGURE):
            figures.append(line.rstrip("\n")[len(FIGURE) :])
    return proc.wait(), figures, time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", action="store_true", help="skip the larger generated year; one demo run"
    )
    p.add_argument("--only", nargs="+", choices=ALL, help="run only these benchmarks")
    args = p.parse_args()

    extra: dict[str, list[str]] = {name: [] for name in ALL}
    if args.quick:
        extra["demo_walltime"] = ["--runs", "1", "--no-large"]
        extra["memory"] = ["--no-large"]
        extra["chaos"] = ["--short"]
    summary: list[str] = []
    failed: list[str] = []
    for name in args.only or ALL:
        code, figures, seconds = run(name, extra[name])
        summary.append(f"{name} ({seconds:.0f} s{'' if code == 0 else f', EXIT {code}'}):")
        summary += [f"  {f}" for f in figures]
        if code != 0:
            failed.append(name)
    print(f"\n== summary (load now {loadavg()})")
    print("\n".join(summary), flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
