"""Auditor views (`domain.audit`): totals from chain and mirror side by side, the outbox, and
the accounts. For auditors and finance officers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import Ctx, role_checker
from domain import audit

router = APIRouter(
    prefix="/audit", tags=["audit"], dependencies=[Depends(role_checker("auditor", "finance"))]
)


@router.get("/totals")
def totals(ctx: Ctx) -> dict[str, Any]:
    """Total supply, minted and redeemed in HEIT, on chain (latest block) and in the mirror
    (as of its checkpoint), so an auditor sees both at once."""
    return audit.totals(ctx)


@router.get("/intents")
def intents(
    ctx: Ctx,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Outbox intents (registrations and mints), newest first, at most `limit` (1..1000):
    status, tx hash, attempts, last error. Errors: 422 `invalid_request`."""
    return audit.intents(ctx, status, limit)


@router.get("/accounts")
def accounts(ctx: Ctx) -> list[dict[str, Any]]:
    """Every wallet account: username, role, address, balance in the mirror (HEIT)."""
    return audit.wallet_accounts(ctx)
