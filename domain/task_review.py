"""The coordinators' review queue: work sent in, the longest waiting first, with what a
coordinator needs to decide (`domain.tasks.approve`, `reject`): the note and photos, the
citizen's month and year totals against the caps, and the four-eyes state."""

from __future__ import annotations

from dataclasses import dataclass

from domain.context import Caller, Context
from domain.schemas import TaskPublic
from domain.tasks import require_coordinator, task_public
from store import proofs as proof_rows
from store import tasks

REVIEW_MAX = 200
"""Most tasks the review queue shows at once."""


@dataclass(frozen=True)
class ReviewItem:
    """Work waiting for a coordinator's decision: the task, who sent it in and when (ISO
    8601), their note and photo paths (`/tasks/<ref>/proof/<n>`; none when sent in over the
    JSON API without proof), the citizen's approved rewards in the month and year of now
    against the caps (base units; `month_cap` None: no monthly cap), the first approval
    (username and time, or None) and who published the task."""

    task: TaskPublic
    citizen: str
    submitted_at: str
    note: str
    photos: list[str]
    month_total: int
    month_cap: int | None
    year_total: int
    year_cap: int
    first_approved_by: str | None
    first_approved_at: str | None
    published_by: str


def review_queue(ctx: Context, caller: Caller) -> list[ReviewItem]:
    """Submitted work, the longest waiting first (at most `REVIEW_MAX`), for coordinators.

    Errors: 403 `forbidden`."""
    require_coordinator(caller)
    month = ctx.now.strftime("%Y-%m")
    items: list[ReviewItem] = []
    for row in tasks.review_queue(ctx.db, REVIEW_MAX):
        proof = proof_rows.get(ctx.db, int(row["id"]))
        count = int(proof["photos"]) if proof is not None else 0
        citizen = int(row["claimed_by"])
        items.append(
            ReviewItem(
                task=task_public(ctx, row, caller),
                citizen=str(row["claimed_by_name"]),
                submitted_at=str(row["submitted_at"]),
                note=str(proof["note"]) if proof is not None else "",
                photos=[f"/tasks/{row['ref']}/proof/{n}" for n in range(1, count + 1)],
                month_total=tasks.approved_in_month(ctx.db, citizen, month),
                month_cap=ctx.settings.monthly_cap_units(),
                year_total=tasks.approved_rewards(ctx.db, citizen, ctx.now.year),
                year_cap=ctx.settings.cap_units(),
                first_approved_by=row["first_approved_by_name"],
                first_approved_at=row["first_approved_at"],
                published_by=str(row["published_by_name"]),
            )
        )
    return items
