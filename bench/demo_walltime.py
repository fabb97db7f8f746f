"""Wall time of `make demo`'s main job: `.venv/bin/heitje demo` on the default example year.

Runs the demo `--runs` times (default 3) and prints min and median seconds, then replays the
larger generated year once (`--no-large` skips it). Each run starts its own anvil, deploys,
starts indexer and API, replays over HTTP and audits: the whole command is timed, from
process start to exit (`python -m scripts.cli demo`, what `.venv/bin/heitje demo` runs). The
demo's own figures are shown beside it: "set-up" (chain, deployment, API, indexer, staff and
sign-ups), "events" (the replay) and "done in" (anvil start to audit), and the CPU time of the
whole process tree (the demo, API, indexer and anvil; `RUSAGE_CHILDREN`), which moves less
with the machine's load than the wall time does.

`--code DIR` runs another copy of the code (e.g. the last commit: `git archive HEAD | tar -x
-C DIR`) with the same venv, interleaved with this tree's runs, and prints the ratio of the
medians; the reports must be equal (the one address a refusal names differs from run to run:
custodial keys are random). The copy gets this tree's `node_modules`, `contracts/out`,
`web/static/vendor` and compiled translations where it lacks them (links; `.mo` copied).

    .venv/bin/python bench/demo_walltime.py [--runs N] [--no-large] [--code DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import (
    DEFAULT_SCENARIO,
    REPO,
    figure,
    footer,
    header,
    large_label,
    loadavg,
    log,
    median,
    note,
    scenario_events,
    write_large_scenario,
)

LINKED = ("node_modules", "contracts/out", "web/static/vendor")
"""What a `--code` copy needs from this tree and `git archive` leaves out (anvil, the
contract's build, the NL Design System's CSS)."""


@dataclass
class Run:
    """One `heitje demo`: wall and CPU seconds, the demo's own figures, its report."""

    wall: float
    cpu: float
    setup: float | None
    events: float | None
    done: float | None
    reconciled: bool
    report: str


def _seconds(pattern: str, text: str) -> float | None:
    m = re.search(pattern + r" ([0-9.]+)s", text)
    return float(m.group(1)) if m else None


def run_demo(scenario: Path | None, code: Path = REPO) -> Run:
    """Run `python -m scripts.cli demo` in `code` once."""
    cmd = [sys.executable, "-m", "scripts.cli", "demo"]
    if scenario is not None:
        cmd += ["--scenario", str(scenario)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=code, stdout=subprocess.PIPE, stderr=err, check=False)
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if proc.returncode not in (0, 1):
        raise SystemExit(f"heitje demo failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    report = proc.stdout.decode()
    return Run(
        wall,
        cpu,
        _seconds("set-up took", stderr),
        _seconds("events took", stderr),
        _seconds("done in", stderr),
        bool(json.loads(report).get("reconciled")),
        re.sub(r"0x[0-9a-f]{40}", "0x...", report),
    )


def _describe(run: Run) -> str:
    return (
        f"{run.wall:.1f} s (CPU {run.cpu:.1f} s; set-up {run.setup}s, events {run.events}s, "
        f"done in {run.done}s; reconciled: {run.reconciled}; load {loadavg()})"
    )


def prepare_copy(code: Path) -> None:
    """Link what `LINKED` names and copy the compiled translations into `code` where missing."""
    for rel in LINKED:
        target = code / rel
        if not target.exists() and (REPO / rel).exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(REPO / rel)
    for mo in (REPO / "web" / "translations").glob("*/LC_MESSAGES/messages.mo"):
        target = code / mo.relative_to(REPO)
        if not target.exists() and target.parent.is_dir():
            shutil.copy2(mo, target)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="runs of the default year (default 3)")
    p.add_argument("--no-large", action="store_true", help="skip the larger generated year")
    p.add_argument("--code", type=Path, help="another copy of the code, run interleaved")
    args = p.parse_args()

    header("demo_walltime: `heitje demo` wall time")
    events = scenario_events(DEFAULT_SCENARIO)
    if args.code is not None:
        prepare_copy(args.code.resolve())
    runs: list[Run] = []
    others: list[Run] = []
    for i in range(args.runs):
        log(f"demo_walltime: default year, run {i + 1}/{args.runs}")
        runs.append(run_demo(None))
        note(f"run {i + 1}: {_describe(runs[-1])}")
        if args.code is not None:
            others.append(run_demo(None, args.code.resolve()))
            note(f"run {i + 1} of {args.code}: {_describe(others[-1])}")
    walls = [r.wall for r in runs]
    label = f"default example year ({events} events), {args.runs} runs"
    figure(f"{label}, min", f"{min(walls):.1f} s")
    figure(f"{label}, median", f"{median(walls):.1f} s")
    figure(
        f"{label}, median CPU time (demo, API, indexer, anvil)",
        f"{median([r.cpu for r in runs]):.1f} s",
    )
    if others:
        other = median([r.wall for r in others])
        figure(f"{label}, median of {args.code}", f"{other:.1f} s")
        figure(
            f"{label}, ratio of the medians (this / {args.code})", f"{median(walls) / other:.2f}"
        )
        cpu = median([r.cpu for r in others])
        figure(f"{label}, median CPU time of {args.code}", f"{cpu:.1f} s")
        same = all(r.report == runs[0].report for r in runs + others)
        note(f"reports equal (but the address a refusal names): {same}")

    if not args.no_large:
        with tempfile.TemporaryDirectory(prefix="heitje-bench-") as tmp:
            path, n = write_large_scenario(Path(tmp))
            log(f"demo_walltime: {large_label()}, {n} events, one run")
            run = run_demo(path)
            note(f"{large_label()}: {n} events, {_describe(run)}")
            figure(f"larger generated year ({n} events), 1 run", f"{run.wall:.1f} s")
    footer("demo_walltime")


if __name__ == "__main__":
    main()
