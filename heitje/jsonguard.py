"""Untrusted JSON, parsed safely: nesting depth checked before parsing, and the interpreter's
recursion limit kept at a value the C stack can bear.

Why: CPython's JSON parser recurses in C once per `[` or `{`, counting against
`sys.getrecursionlimit()`. A library pulled in by web3 (`py_ecc`) raises that limit to 100,000
at import, after which ~100,000 nested brackets overflow the C stack and the process dies with
SIGSEGV instead of raising `RecursionError`. So every parse of untrusted JSON first counts the
nesting (`json_depth`, linear, no recursion) and refuses anything deeper than the limit
(`check_json_depth`, `loads`), and the entry points (API app, CLI) call `guard_recursion_limit`
after their imports so that whatever is parsed unchecked fails cleanly.

The count runs over the UTF-8 bytes, where `"`, `\\`, `[`, `]`, `{` and `}` are single bytes
that never occur inside a multi-byte character; bytes that are not UTF-8 (RFC 8259 section 8.1:
JSON exchanged between systems is UTF-8) are refused, since in UTF-16 or UTF-32 the brackets
would hide from a byte count. The count takes time linear in the input whatever it holds (no
regular expression: the one used before was tried again from every quote of an unterminated
string, so `"` followed by `\\"` repeated took quadratic time, hours for 1 MiB): a few passes of
`bytes` methods in C, then one Python loop over the brackets left, which stops as soon as the
limit is passed.

Public surface: `MAX_JSON_DEPTH`, `SAFE_RECURSION_LIMIT`, `json_depth`, `check_json_depth`,
`loads`, `guard_recursion_limit`. Errors: `JsonTooDeep` (code `json_too_deep`, HTTP 422),
`JsonNotUtf8` (code `json_not_utf8`, HTTP 400).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from heitje.errors import InvalidInput

MAX_JSON_DEPTH = 32
"""Default deepest nesting of arrays and objects accepted (`HEITJE_MAX_JSON_DEPTH`)."""

SAFE_RECURSION_LIMIT = 1000
"""CPython's own default recursion limit: deep enough for every library Heitje uses, shallow
enough that C-level recursion (the JSON parser, `repr`, pickling) stays within the stack."""

_OPEN = frozenset(b"[{")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


class JsonTooDeep(InvalidInput):
    """JSON nested deeper than the limit; refused before it is parsed."""

    code = "json_too_deep"


class JsonNotUtf8(InvalidInput):
    """Bytes offered as JSON that are not valid UTF-8 (RFC 8259 section 8.1); refused before
    they are counted or parsed."""

    code = "json_not_utf8"
    http_status = 400


def json_depth(data: bytes | str, stop_above: int | None = None) -> int:
    """The deepest nesting of `[`/`{` outside strings in `data` (0 for a scalar), counted in
    time linear in `len(data)` without recursion and without parsing. With `stop_above`,
    counting stops as soon as the depth passes it (the result is then `stop_above + 1`).

    `data` as bytes must be UTF-8 (RFC 8259 section 8.1), else `JsonNotUtf8`; a `str` is
    counted as is. For text that is not valid JSON the count is an upper bound of the depth a
    parser reaches before failing: up to the first byte that is not JSON the count follows the
    JSON grammar exactly, and a parser goes no further."""
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
    else:
        raw = bytes(data)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JsonNotUtf8(
                f"JSON must be UTF-8 (RFC 8259); byte {e.start} is not: {e.reason}"
            ) from None
    # The same as one left-to-right pass with an in-string flag and an escape flag, in C:
    # 1. Escapes (RFC 8259 section 7) go, left to right: pairs of backslashes, then a
    #    backslash left alone with the quote it escapes. Every quote left opens or closes a
    #    string.
    # 2. Two adjacent quotes go: an empty string, or the end of one string and the start of
    #    the next; either way no byte moves in or out of a string.
    # 3. Split at the quotes: even pieces are outside strings, odd ones inside (an unterminated
    #    string is the last piece, odd).
    # A backslash outside a string is not JSON: a parser stops there, and up to there this
    # count is exact, so it stays an upper bound of the depth a parser reaches.
    bare = raw.replace(b"\\\\", b"").replace(b'\\"', b"").replace(b'""', b"")
    outside = b"".join(bare.split(b'"')[0::2])
    depth = deepest = 0
    for c in outside.translate(None, _NOT_BRACKETS):
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
    """Raise `JsonTooDeep` when `data` nests arrays/objects deeper than `max_depth`, and
    `JsonNotUtf8` when `data` is bytes that are not UTF-8 (RFC 8259 section 8.1)."""
    if json_depth(data, stop_above=max_depth) > max_depth:
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")


def loads(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` for untrusted input: refuses nesting deeper than `max_depth`
    (`JsonTooDeep`) and bytes that are not UTF-8 (`JsonNotUtf8`) before parsing; otherwise
    raises what `json.loads` raises (`ValueError`). All three are `ValueError`s."""
    check_json_depth(data, max_depth)
    return json.loads(data)


def guard_recursion_limit(limit: int = SAFE_RECURSION_LIMIT) -> int:
    """Lower `sys.getrecursionlimit()` to `limit` if an imported library raised it (py_ecc sets
    100,000). Call after the imports of an entry point. Returns the limit now in force."""
    if sys.getrecursionlimit() > limit:
        sys.setrecursionlimit(limit)
    return sys.getrecursionlimit()
