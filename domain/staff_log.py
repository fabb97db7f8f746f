"""The staff log: every staff action (publish, approve, reject, shop decisions, settlement
runs, staff changes, period openings, pauses, second-factor resets) appended with who, when,
what and why. Auditors and admins read it; nobody can change it (`store.staff_log`).

Call `record` inside the action's own database transaction (`store.db.transaction`), so an
action is never done without its entry, nor logged without being done. Actions done on chain
first (a period opening, a pause) are recorded once the transaction is mined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.context import Caller, Context
from store import staff_log

ACTIONS = (
    "task.publish",
    "task.edit",
    "task.withdraw",
    "task.approve",
    "task.first_approval",
    "task.reject",
    "shop.approve",
    "shop.reject",
    "staff.create",
    "staff.disable",
    "staff.enable",
    "staff.second_factor_reset",
    "staff.second_factor_enrol",
    "period.open",
    "chain.pause",
    "chain.unpause",
    "settlement.run",
    "settlement.anchor",
    "bank.statement_import",
    "bank.status_import",
    "evidence.download",
    "citizen.erase",
    "account.rotate_key",
)
"""Every action name the log holds (pages translate them; an unknown one shows as is)."""


@dataclass(frozen=True)
class Entry:
    """One staff log entry: `at` ISO 8601 UTC; `detail` the action's figures (amounts in
    base units)."""

    id: int
    at: str
    actor: str
    role: str
    action: str
    subject: str
    reason: str
    detail: dict[str, Any]


def record(
    ctx: Context,
    caller: Caller,
    action: str,
    subject: str = "",
    reason: str = "",
    **detail: Any,
) -> int:
    """Append `action` (one of `ACTIONS`) by `caller` on `subject` (a task ref, username,
    batch id) with `reason` and JSON-able `detail`, at `ctx.now`. Returns the entry's id.
    Raises ValueError for an action not in `ACTIONS` (a programming error)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown staff action {action!r}")
    return staff_log.append(
        ctx.db,
        ctx.now.isoformat(),
        caller.id,
        caller.username,
        caller.role,
        action,
        subject,
        reason,
        detail,
    )


def entries(
    ctx: Context,
    since: str | None = None,
    until: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Entry]:
    """Entries newest first, filtered as `store.staff_log.entries` (`since`/`until`: ISO
    dates or times, `until` exclusive; `action`: exact, or a prefix ending in ".")."""
    import json

    rows = staff_log.entries(ctx.db, since, until, actor, action, limit, offset)
    return [
        Entry(
            int(r["id"]),
            r["at"],
            r["actor"],
            r["role"],
            r["action"],
            r["subject"],
            r["reason"],
            json.loads(r["detail"]),
        )
        for r in rows
    ]
