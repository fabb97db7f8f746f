"""Start-up of the command line: `heitje --help` and `heitje status --json`, wall time of the
whole process, against a baseline of the same interpreter doing nothing (`python -c "import
sys"`: the interpreter and site start-up every command pays).

`heitje status` needs a running stack: one is started in a temporary data dir
(`scripts.stack.start_stack`: anvil, token, indexer polling once a second, API), or
`--data-dir DIR --rpc-url URL` names one already running. Warm: each command runs once
untimed first, and the children may write and read their bytecode caches
(PYTHONDONTWRITEBYTECODE is dropped from their environment), as a user's shell has them.
Timed, interleaved, `--runs` times (default 5; medians): baseline, `--help`, `status --json`;
each figure is the median in seconds and its ratio to the baseline's median. The children's
CPU time (user + system, medians) is shown beside it: on a busy machine it moves less than
the wall time.

`--code DIR` times another copy of the code with the same venv (PYTHONPATH=DIR), e.g. the
last commit: `git archive HEAD | tar -x -C /tmp/before` then `--code /tmp/before`.

    .venv/bin/python bench/cli_start.py [--runs 5] [--data-dir DIR --rpc-url URL] [--code DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from _common import HEITJE, REPO, VENV_BIN, figure, footer, header, log, median, note

LIMIT = 0.3
"""Seconds `heitje --help` and `heitje status` must start and answer in (issue 12, item 5)."""


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit code) of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def measure(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> None:
    """Warm up, then run the commands interleaved `runs` times and print the figures."""
    for name, argv in commands.items():
        _, _, code = timed(argv, env)
        if code not in (0, 1):  # status exits 1 for an unhealthy stack: still an answer
            raise SystemExit(f"{name}: exit {code} ({' '.join(argv)})")
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(runs):
        log(f"cli_start: round {i + 1} of {runs}")
        for name, argv in commands.items():
            wall, cpu, _ = timed(argv, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    base = median(walls["baseline"])
    base_cpu = median(cpus["baseline"])
    figure(f"baseline `python -c 'import sys'`, median of {runs}", f"{base:.3f} s")
    for name in commands:
        if name == "baseline":
            continue
        wall = median(walls[name])
        figure(
            f"`heitje {name}`, median of {runs}",
            f"{wall:.3f} s ({wall / base:.1f}x the baseline; limit {LIMIT} s)",
        )
        note(
            f"heitje {name}: CPU {median(cpus[name]):.3f} s (baseline {base_cpu:.3f} s); "
            f"wall min {min(walls[name]):.3f} s, max {max(walls[name]):.3f} s"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="timed runs of each command (default 5)")
    p.add_argument("--data-dir", type=Path, help="the data dir of a running stack")
    p.add_argument("--rpc-url", help="its chain's JSON-RPC URL (with --data-dir)")
    p.add_argument("--code", type=Path, help="time this copy of the code (PYTHONPATH)")
    args = p.parse_args()
    if (args.data_dir is None) != (args.rpc_url is None):
        p.error("--data-dir and --rpc-url go together")

    header("cli_start: `heitje --help` and `heitje status --json` against `python -c 'import sys'`")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEITJE_", "GETH_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(NO_COLOR="1", TERM="dumb", COLUMNS="100")
    if args.code is not None:
        env["PYTHONPATH"] = str(args.code.resolve())
        note(f"code from {args.code} (PYTHONPATH)")
    stack = None
    with tempfile.TemporaryDirectory(prefix="heitje-bench-cli-") as tmp:
        data_dir, rpc_url = args.data_dir, args.rpc_url
        if data_dir is None:
            from scripts.stack import start_stack

            log("cli_start: starting a stack (anvil, token, indexer, API)")
            stack = start_stack(Path(tmp) / "data", poll=1.0)  # a quiet indexer beside
            data_dir, rpc_url = stack.data_dir, stack.rpc_url
        try:
            status = ["status", "--json", "--data-dir", str(data_dir), "--rpc-url", rpc_url]
            measure(
                {
                    "baseline": [str(VENV_BIN / "python"), "-c", "import sys"],
                    "--help": [str(HEITJE), "--help"],
                    "status --json": [str(HEITJE), *status],
                },
                env,
                args.runs,
            )
        finally:
            if stack is not None:
                stack.stop()
    footer("cli_start")


if __name__ == "__main__":
    main()
