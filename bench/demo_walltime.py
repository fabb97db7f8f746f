"""Wall time of `make demo`'s main job: `.venv/bin/heitje demo` on the default example year.

Runs the demo `--runs` times (default 3) and prints min and median seconds, then replays the
larger generated year once (`--no-large` skips it). Each run starts its own anvil, deploys,
starts indexer and API, replays over HTTP and audits: the whole command is timed, from
process start to exit. The demo's own "done in" figure (anvil start to audit) is shown too.

    .venv/bin/python bench/demo_walltime.py [--runs N] [--no-large]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from _common import (
    DEFAULT_SCENARIO,
    HEITJE,
    REPO,
    figure,
    footer,
    header,
    large_label,
    log,
    median,
    note,
    scenario_events,
    write_large_scenario,
)


def run_demo(scenario: Path | None) -> tuple[float, float | None, bool]:
    """Run `heitje demo` once: (wall seconds, the demo's own 'done in' seconds, reconciled)."""
    cmd = [str(HEITJE), "demo"]
    if scenario is not None:
        cmd += ["--scenario", str(scenario)]
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err, check=False)
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if proc.returncode not in (0, 1):
        raise SystemExit(f"heitje demo failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    reconciled = bool(json.loads(proc.stdout).get("reconciled"))
    m = re.search(r"done in ([0-9.]+)s", stderr)
    return wall, (float(m.group(1)) if m else None), reconciled


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="runs of the default year (default 3)")
    p.add_argument("--no-large", action="store_true", help="skip the larger generated year")
    args = p.parse_args()

    header("demo_walltime: `heitje demo` wall time")
    events = scenario_events(DEFAULT_SCENARIO)
    walls: list[float] = []
    for i in range(args.runs):
        log(f"demo_walltime: default year, run {i + 1}/{args.runs}")
        wall, inner, ok = run_demo(None)
        walls.append(wall)
        note(f"run {i + 1}: {wall:.1f} s (demo's own 'done in': {inner}s, reconciled: {ok})")
    figure(f"default example year ({events} events), {args.runs} runs, min", f"{min(walls):.1f} s")
    figure(
        f"default example year ({events} events), {args.runs} runs, median",
        f"{median(walls):.1f} s",
    )

    if not args.no_large:
        with tempfile.TemporaryDirectory(prefix="heitje-bench-") as tmp:
            path, n = write_large_scenario(Path(tmp))
            log(f"demo_walltime: {large_label()}, {n} events, one run")
            wall, inner, ok = run_demo(path)
            note(f"{large_label()}: {n} events, demo's own 'done in': {inner}s, reconciled: {ok}")
            figure(f"larger generated year ({n} events), 1 run", f"{wall:.1f} s")
    footer("demo_walltime")


if __name__ == "__main__":
    main()
