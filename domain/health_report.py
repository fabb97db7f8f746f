"""The health report (`GET /health`, `heitje status --json`): its models alone, so that
`heitje status` loads them without the rest of `domain.schemas` (which re-exports them).
`domain.health` fills them in."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthReason(BaseModel):
    """Why the service is not healthy: a stable `code` (`chain_unreachable`, `mirror_missing`,
    `indexer_lagging`, `dispatcher_backlog`, `key_low_balance`) and a human `message`."""

    code: str
    message: str


class ChainHealth(BaseModel):
    """The chain node: reachable or not, its head block and how old that block is (seconds)."""

    ok: bool
    reachable: bool
    chain_id: int | None = None
    head: int | None = None
    head_age_seconds: int | None = None


class IndexerHealth(BaseModel):
    """The SQL mirror: its checkpoint block and how far it is behind the block it should have
    reached (head - `confirmations`), in blocks and in block time (seconds); `ok` null when the
    chain cannot be asked."""

    ok: bool | None
    checkpoint: int | None = None
    confirmations: int
    lag_blocks: int | None = None
    lag_seconds: int | None = None
    max_lag_blocks: int


class DispatcherHealth(BaseModel):
    """The outbox: open intents (neither confirmed nor failed) and the age of the oldest."""

    ok: bool
    open_intents: int
    oldest_age_seconds: int | None = None
    max_age_seconds: float


class KeyHealth(BaseModel):
    """A service key: its address (null: no key file in this data dir) and native balance in
    wei (a decimal string), checked against `min_balance_wei`; `ok` null when not checked."""

    role: str
    address: str | None
    balance_wei: str | None = None
    min_balance_wei: str
    ok: bool | None


class HealthReport(BaseModel):
    """The service's health: `ok` (and `status` "ok" or "fail") with the `reasons` of a
    failure, and the figures of each check."""

    ok: bool
    status: Literal["ok", "fail"]
    reasons: list[HealthReason]
    chain: ChainHealth
    indexer: IndexerHealth
    dispatcher: DispatcherHealth
    keys: list[KeyHealth]
