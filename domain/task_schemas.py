"""The task schemas of the API and the pages (`domain.tasks`): publish, change, reject, the
proof sent in, a task as a caller may see it, and approving several at once. Re-exported by
`domain.schemas`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field


class TaskCreate(BaseModel):
    """A task to publish. `reward` is a HEIT decimal string ("15.00")."""

    ref: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    kind: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=300)
    reward: str = Field(max_length=32)
    neighbourhood: str = Field(default="", max_length=200)
    place: str = Field(default="", max_length=300, description="Where the job is.")
    deadline: date | None = Field(
        default=None, description="The last day to do the job (ISO date), if there is one."
    )
    materials: str = Field(
        default="", max_length=1000, description="What to pick up for the job, and where."
    )
    description: str = Field(default="", max_length=4000, description="What the job is.")
    estimated_minutes: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="How long the job takes, in whole minutes; with it the reward per hour is "
        "checked against HEITJE_MAX_REWARD_PER_HOUR.",
    )
    people: int = Field(default=1, ge=1, le=100, description="How many people the job takes.")


class TaskEdit(BaseModel):
    """New values of an open task (all of them; `reward` a HEIT decimal string)."""

    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=4000)
    reward: str = Field(max_length=32)
    estimated_minutes: int | None = Field(default=None, ge=1, le=100_000)
    place: str = Field(default="", max_length=300)
    neighbourhood: str = Field(default="", max_length=200)
    deadline: date | None = None
    people: int = Field(default=1, ge=1, le=100)
    materials: str = Field(default="", max_length=1000)


class TaskWithdraw(BaseModel):
    """Why a task is withdrawn (shown to the citizen who claimed it)."""

    reason: str = Field(max_length=1000)


class TaskReject(BaseModel):
    """Why submitted work is rejected (shown to the citizen who sent it in)."""

    reason: str = Field(default="", max_length=1000)


class TaskApprovals(BaseModel):
    """Submitted work to approve at once (`POST /tasks/approvals`): 1 to 200 task refs."""

    refs: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=200
    )


class ApprovalOutcome(BaseModel):
    """What became of one ref of `POST /tasks/approvals`: `result` approved (the reward is
    on its way: `GET /tasks/{ref}` shows `reward_status`), first_approval (the first of two:
    a second coordinator has to approve it too), or refused with the `code` and `message`
    that `POST /tasks/{ref}/approve` would answer."""

    ref: str
    result: Literal["approved", "first_approval", "refused"]
    code: str | None = None
    message: str | None = None


class TaskApprovalsPublic(BaseModel):
    """The outcome of `POST /tasks/approvals`: one entry per ref, in order, and the counts."""

    results: list[ApprovalOutcome]
    approved: int
    first_approvals: int
    refused: int


class TaskProofPublic(BaseModel):
    """What a citizen sent in with a task: `note` and `photos` (paths of the photos, JPEG,
    readable by the citizen who sent them and by staff), when (`submitted_at`, ISO 8601)."""

    note: str
    photos: list[str]
    submitted_at: str


class TaskPublic(BaseModel):
    """A task. `reward` in HEIT; `reward_status` of the mint once approved:
    pending | sent | blocked | confirmed (null before approval); `reward_error` says, while the
    mint is `blocked`, why (plain text; the dispatcher keeps trying). `rejection_reason` (a
    rejected task) and `withdrawal_reason` (status `withdrawn`) only for staff and the citizen
    who claimed it, as `claimed_by`."""

    ref: str
    kind: str
    title: str
    reward: str
    neighbourhood: str
    status: str
    claimed_by: str | None
    reward_status: str | None
    reward_tx: str | None
    reward_error: str | None = None
    approvals: int = 0
    """Approvals given so far (0, 1 or 2)."""
    approvals_needed: int = 1
    """2 when the reward is at or above the four-eyes threshold, else 1."""
    place: str = ""
    deadline: date | None = None
    materials: str = ""
    rejection_reason: str | None = None
    description: str = ""
    estimated_minutes: int | None = None
    """How long the job takes, in whole minutes (null: not given)."""
    people: int = 1
    """How many people the job takes."""
    withdrawal_reason: str | None = None
    """Why a coordinator withdrew the task (status `withdrawn`), for staff and the claimant."""
