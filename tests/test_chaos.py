"""The chaos benchmark's short run (`bench/chaos.py --short`) as a test: rewards and payments
while the API is killed ten times, anvil reorganises twice and the JSON-RPC proxy refuses,
drops, delays, duplicates and front-runs transactions; after recovery nothing may be lost,
doubled, paid twice or stuck, and the mirror must equal the chain.

It runs the benchmark as a subprocess with this interpreter (tests never import bench); a
few minutes on a loaded 2-core machine (most of it the API's restarts).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

FIGURES = {
    "rewards approved vs minted exactly once": r": (\d+) lost, (\d+) doubled$",
    "payments answered confirmed vs on chain": r"^(\d+) answered confirmed, (\d+) on chain$",
    "payments paid twice": r"^(\d+) \(paid though answered refused: (\d+);",
    "intents still stuck after recovery": r"^(\d+) \(",
    "mirror equal to chain": r"^(yes|NO) ",
}


def test_short_chaos_run_loses_doubles_and_strands_nothing() -> None:
    proc = subprocess.run(
        [sys.executable, "bench/chaos.py", "--short"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
    )
    out = proc.stdout
    context = f"stdout:\n{out}\nstderr (end):\n{proc.stderr[-3000:]}"
    figures = dict(
        line.strip()[2:].split(": ", 1) for line in out.splitlines() if line.startswith("   * ")
    )
    found = {}
    for label, pattern in FIGURES.items():
        assert label in figures, f"no figure {label!r}\n{context}"
        match = re.search(pattern, figures[label])
        assert match is not None, f"{label}: {figures[label]!r}\n{context}"
        found[label] = match.groups()
    assert found["rewards approved vs minted exactly once"] == ("0", "0"), context
    answered, on_chain = found["payments answered confirmed vs on chain"]
    assert answered == on_chain and int(answered) > 0, context
    assert found["payments paid twice"] == ("0", "0"), context
    assert found["intents still stuck after recovery"] == ("0",), context
    assert found["mirror equal to chain"] == ("yes",), context
    assert "front_run 0," not in figures.get("faults fired", ""), context
    assert proc.returncode == 0, context
