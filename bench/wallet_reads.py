"""Wallet reads: `GET /wallet` and `GET /wallet/history` through Heitje's API against a bare ASGI
app serving the same SQL (`bench/_bare_wallet.py`) on the same uvicorn and data directory.

One stack (anvil, token, indexer, API: `scripts.stack.start_stack`); K citizens (`--citizens`,
20) sign up and earn 3 rewards each, untimed. Then, for each shape, the two servers are measured
in turn (Heitje, baseline, Heitje, baseline, ...; `--rounds` 3, medians): throughput with 200
concurrent keep-alive clients, p99 with 50, p50 with 1, each for `--seconds` (5) after a short
warm-up. The load comes from `bench/_load.py` in its own process. Prints each figure and the
ratio Heitje / baseline (issue 12: throughput >= 0.7, p99 at 50 clients <= 2x, single p50 <
5 ms), and at 200 clients each server's CPU time per answer (user + system, `/proc`), which
moves less than the throughput when other work shares the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import REPO, figure, footer, header, log, note
from approvals import Api, prepare, setup_users, timed_batch

from scripts.stack import start_stack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bare_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The baseline app on uvicorn (the API's server and options), answering at its port."""
    port = _free_port()
    env = {**os.environ, "HEITJE_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench._bare_wallet:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=REPO,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/wallet", timeout=1)
            return proc, port
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the baseline server did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(
    path: str, port: int, clients: int, seconds: float, tokens: list[str], pid: int
) -> dict[str, Any]:
    """One run of `_load.py`; adds `cpu_us`: the server's (`pid`) CPU time per answer, in
    microseconds (a figure that moves less with the machine's load than the throughput)."""
    before = _cpu_seconds(pid)
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "_load.py"),
            path,
            str(port),
            str(clients),
            str(seconds),
            ",".join(tokens),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    result["cpu_us"] = (_cpu_seconds(pid) - before) / max(1, result["requests"]) * 1e6
    if result["errors"]:
        raise SystemExit(f"{result['errors']} answers other than 200 from port {port} {path}")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--citizens", type=int, default=20, help="K citizens (default 20)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per figure (default 3)")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds per run (default 5)")
    args = p.parse_args()

    header("wallet reads: Heitje's API against a bare ASGI app with the same SQL")
    tmp = Path(tempfile.mkdtemp(prefix="heitje-bench-wallet-"))
    stack = start_stack(
        tmp / "data",
        env={
            "HEITJE_SIGNUP_PER_ADDRESS_PER_HOUR": "100000",
            "HEITJE_SIGNUP_PER_HOUR": "100000",
            "HEITJE_FOUR_EYES_THRESHOLD": "",
            "HEITJE_STAFF_SECOND_FACTOR": "false",  # staff log in by API, password only
        },
    )
    bare: subprocess.Popen[bytes] | None = None
    try:
        api = Api(stack.api_url)
        log(f"wallet reads: {args.citizens} citizens, 3 rewards each")
        citizens = setup_users(api, stack, args.citizens)
        refs = prepare(api, citizens, "wr", args.citizens * 3)
        timed_batch(api, refs, 1)
        tokens = [api.tokens[c] for c in citizens]
        deadline = time.monotonic() + 60
        while len(api.call(citizens[-1], "GET", "/wallet/history")) < 3:
            if time.monotonic() > deadline:
                raise SystemExit("the mirror did not catch up")
            time.sleep(0.1)
        bare, bare_port = _bare_server(stack.data_dir)
        api_port = int(stack.api_url.rsplit(":", 1)[1])
        api_pid = stack.api.pid
        for path in ("/wallet", "/wallet/history"):
            a = _load(path, api_port, 1, 1.0, tokens, api_pid)
            b = _load(path, bare_port, 1, 1.0, tokens, bare.pid)
            if path == "/wallet":
                same = httpx.get(
                    f"http://127.0.0.1:{bare_port}{path}",
                    headers={"Authorization": f"Bearer {tokens[0]}"},
                ).json()
                theirs = api.call(citizens[0], "GET", path)
                if {k: theirs[k] for k in same} != same:
                    raise SystemExit(f"the baseline answers differently: {same} vs {theirs}")
            del a, b
            for clients, key, label in (
                (200, "per_second", "req/s"),
                (50, "p99_ms", "p99 ms"),
                (1, "p50_ms", "p50 ms"),
            ):
                ours: list[float] = []
                base: list[float] = []
                ours_cpu: list[float] = []
                base_cpu: list[float] = []
                for _ in range(args.rounds):
                    r = _load(path, api_port, clients, args.seconds, tokens, api_pid)
                    ours.append(r[key])
                    ours_cpu.append(r["cpu_us"])
                    r = _load(path, bare_port, clients, args.seconds, tokens, bare.pid)
                    base.append(r[key])
                    base_cpu.append(r["cpu_us"])
                o, b_ = statistics.median(ours), statistics.median(base)
                note(f"GET {path}, {clients} clients, {label}: Heitje {ours}, baseline {base}")
                figure(
                    f"GET {path}, {clients} clients, {label} (Heitje / baseline)",
                    f"{o:.1f} / {b_:.1f} = {o / b_:.2f}",
                )
                if clients == 200:
                    oc, bc = statistics.median(ours_cpu), statistics.median(base_cpu)
                    figure(
                        f"GET {path}, {clients} clients, server CPU us per answer "
                        "(Heitje / baseline)",
                        f"{oc:.0f} / {bc:.0f} = {oc / bc:.2f}",
                    )
    finally:
        if bare is not None:
            bare.kill()
            bare.wait()
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    footer("wallet reads")


if __name__ == "__main__":
    main()
