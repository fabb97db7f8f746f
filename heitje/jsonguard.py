"""Untrusted JSON, parsed safely: nesting depth checked before parsing, and the interpreter's
recursion limit kept at a value the C stack can bear.

Why: CPython's JSON parser recurses in C once per `[` or `{`, counting against
`sys.getrecursionlimit()`. A library pulled in by web3 (`py_ecc`) raises that limit to 100,000
at import, after which ~100,000 nested brackets overflow the C stack and the process dies with
SIGSEGV instead of raising `RecursionError`. So every parse of untrusted JSON first counts the
nesting (`json_depth`, linear, no recursion) and refuses anything deeper than the limit
(`check_json_depth`, `loads`), and the entry points (API app, CLI) call `guard_recursion_limit`
after their imports so that whatever is parsed unchecked fails cleanly.

Public surface: `MAX_JSON_DEPTH`, `SAFE_RECURSION_LIMIT`, `json_depth`, `check_json_depth`,
`loads`, `guard_recursion_limit`. Errors: `JsonTooDeep` (code `json_too_deep`, HTTP 422).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from heitje.errors import InvalidInput

MAX_JSON_DEPTH = 32
"""Default deepest nesting of arrays and objects accepted (`HEITJE_MAX_JSON_DEPTH`)."""

SAFE_RECURSION_LIMIT = 1000
"""CPython's own default recursion limit: deep enough for every library Heitje uses, shallow
enough that C-level recursion (the JSON parser, `repr`, pickling) stays within the stack."""

# A JSON string (RFC 8259 section 7): quote, then runs of plain characters and escapes, quote.
# Unrolled so that matching is linear. Brackets inside strings do not nest anything.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN = frozenset(b"[{")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


class JsonTooDeep(InvalidInput):
    """JSON nested deeper than the limit; refused before it is parsed."""

    code = "json_too_deep"


def json_depth(data: bytes | str, stop_above: int | None = None) -> int:
    """The deepest nesting of `[`/`{` outside strings in `data` (0 for a scalar), counted in
    one linear pass without recursion and without parsing. With `stop_above`, counting stops
    as soon as the depth passes it (the result is then `stop_above + 1`). For text that is not
    valid JSON the count is an upper bound of what a parser would reach before failing."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for c in brackets:
        if c in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif depth:
            depth -= 1
    return deepest


def check_json_depth(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise `JsonTooDeep` when `data` nests arrays/objects deeper than `max_depth`."""
    if json_depth(data, stop_above=max_depth) > max_depth:
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")


def loads(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` for untrusted input: refuses nesting deeper than `max_depth`
    (`JsonTooDeep`) before parsing; otherwise raises what `json.loads` raises (`ValueError`)."""
    check_json_depth(data, max_depth)
    return json.loads(data)


def guard_recursion_limit(limit: int = SAFE_RECURSION_LIMIT) -> int:
    """Lower `sys.getrecursionlimit()` to `limit` if an imported library raised it (py_ecc sets
    100,000). Call after the imports of an entry point. Returns the limit now in force."""
    if sys.getrecursionlimit() > limit:
        sys.setrecursionlimit(limit)
    return sys.getrecursionlimit()
