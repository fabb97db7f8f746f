"""CSV cells a spreadsheet shows as text (OWASP CSV injection): the one rule every CSV the
service writes follows (shop exports, dashboard downloads, the evidence pack)."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters a spreadsheet reads as a formula."""


def spreadsheet_safe(text: str) -> str:
    """`text` as a CSV cell a spreadsheet shows as text: a cell that would start a formula
    (a display name people choose, e.g. "=HYPERLINK(...)") gets a leading apostrophe."""
    return "'" + text if text.startswith(FORMULA_START) else text
