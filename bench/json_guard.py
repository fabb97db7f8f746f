"""Time of the JSON depth check (`heitje.jsonguard.json_depth`) on hostile bodies of 64 KiB,
1 MiB and 4 MiB, and the ratios: linear time gives about 16 (1 MiB / 64 KiB) and 4 (4 MiB /
1 MiB), quadratic 256 and 16. 64 KiB fits in the CPU's caches and 1 MiB does not, so the first
ratio comes out higher than 16 even for plain text (a copy); the second compares like with like.

Bodies: an unterminated string of escaped quotes (`"` then `\\"` repeated: the old regular
expression took quadratic time on it, 32 KB 8.5 s), a run of backslash pairs in a string, empty
strings, one-character strings, flat empty arrays (the most brackets the loop can meet), and
plain text. Each figure is the best of `--repeat` runs (default 5). Prints, never asserts.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from _common import figure, footer, header

from heitje.jsonguard import json_depth

KIB = 1024
BODIES: dict[str, Callable[[int], bytes]] = {
    "unterminated string of escaped quotes": lambda n: b'"' + b'\\"' * (n // 2),
    "string of backslash pairs": lambda n: b'["' + b"\\\\" * (n // 2) + b'"]',
    "empty strings": lambda n: b'""' * (n // 2),
    "one-character strings": lambda n: b"[" + b'"a",' * (n // 4) + b'"a"]',
    "flat empty arrays": lambda n: b"[" + b"[]," * (n // 3) + b"[]]",
    "plain text": lambda n: b"a" * n,
}


def best_of(body: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        json_depth(body, stop_above=32)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    header("json_guard")
    for name, make in BODIES.items():
        small, large, huge = (best_of(make(n * KIB), args.repeat) for n in (64, 1024, 4096))
        figure(
            f"{name}: 64 KiB, 1 MiB, 4 MiB",
            f"{small * 1000:.2f} / {large * 1000:.1f} / {huge * 1000:.1f} ms; ratios "
            f"{large / small:.1f} (linear 16, quadratic 256), {huge / large:.1f} (4, 16)",
        )
    footer("json_guard")


if __name__ == "__main__":
    main()
