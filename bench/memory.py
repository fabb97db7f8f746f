"""Peak memory (RSS) of the API and the indexer during a demo replay.

Runs `.venv/bin/heitje demo` on the default example year, then on the larger generated year
(`--no-large` skips it), and samples every 50 ms (psutil) the processes the demo starts as its
children (scripts/services.py), found by their command lines: the API
(`uvicorn api.app:create_app`) and the indexer (`heitje indexer run`). Each figure is the
peak of the RSS of that process plus all its descendants, summed per sample. The demo process
itself (the replaying client, without its children) and anvil (npm wrapper + binary) are shown
for comparison.

    .venv/bin/python bench/memory.py [--interval 0.05] [--no-large]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
from _common import (
    DEFAULT_SCENARIO,
    HEITJE,
    REPO,
    figure,
    footer,
    header,
    large_label,
    log,
    note,
    scenario_events,
    write_large_scenario,
)

MIB = 1024 * 1024
ROLES = ("api", "indexer", "anvil", "demo")


def role_of(cmdline: list[str]) -> str | None:
    joined = " ".join(cmdline)
    if "uvicorn" in joined and "api.app:create_app" in joined:
        return "api"
    if "heitje" in joined and "indexer run" in joined:
        return "indexer"
    if "anvil" in joined:
        return "anvil"
    return None


def tree_rss(proc: psutil.Process) -> int:
    """RSS of `proc` and all its descendants (bytes); 0 for what has gone."""
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def measure(scenario: Path | None, interval: float) -> tuple[dict[str, int], int, float, bool]:
    """Run the demo, sampling; returns (peak bytes per role, samples, seconds, reconciled)."""
    cmd = [str(HEITJE), "demo"]
    if scenario is not None:
        cmd += ["--scenario", str(scenario)]
    peaks = dict.fromkeys(ROLES, 0)
    samples = 0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=err)
        demo = psutil.Process(proc.pid)
        known: dict[int, tuple[str, psutil.Process]] = {}
        while proc.poll() is None:
            tick = time.perf_counter()
            try:
                for child in demo.children():
                    if child.pid not in known:
                        role = role_of(child.cmdline())
                        if role is not None:
                            known[child.pid] = (role, child)
                peaks["demo"] = max(peaks["demo"], demo.memory_info().rss)
            except psutil.Error:
                pass  # the demo is exiting
            per_role = dict.fromkeys(ROLES[:-1], 0)
            for role, child in known.values():
                per_role[role] += tree_rss(child)
            for role, rss in per_role.items():
                peaks[role] = max(peaks[role], rss)
            samples += 1
            time.sleep(max(0.0, interval - (time.perf_counter() - tick)))
        seconds = time.perf_counter() - started
        out.seek(0)
        stdout = out.read()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if proc.returncode not in (0, 1):
        raise SystemExit(f"heitje demo failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    if not peaks["api"] or not peaks["indexer"]:
        raise SystemExit("did not find the API or the indexer among the demo's children")
    return peaks, samples, seconds, bool(json.loads(stdout).get("reconciled"))


def report(label: str, peaks: dict[str, int], samples: int, seconds: float, ok: bool) -> None:
    figure(f"{label}: API peak RSS", f"{peaks['api'] / MIB:.1f} MiB")
    figure(f"{label}: indexer peak RSS", f"{peaks['indexer'] / MIB:.1f} MiB")
    note(
        f"{label}: for comparison, demo process (replaying client) "
        f"{peaks['demo'] / MIB:.1f} MiB, anvil {peaks['anvil'] / MIB:.1f} MiB; "
        f"{samples} samples over {seconds:.0f} s, reconciled: {ok}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    p.add_argument("--no-large", action="store_true", help="skip the larger generated year")
    args = p.parse_args()

    header("memory: peak RSS of API and indexer during `heitje demo`")
    n = scenario_events(DEFAULT_SCENARIO)
    log("memory: default example year")
    report(f"default example year ({n} events)", *measure(None, args.interval))
    if not args.no_large:
        with tempfile.TemporaryDirectory(prefix="heitje-bench-") as tmp:
            path, n = write_large_scenario(Path(tmp))
            log(f"memory: {large_label()}, {n} events")
            report(f"larger generated year ({n} events)", *measure(path, args.interval))
    footer("memory")


if __name__ == "__main__":
    main()
