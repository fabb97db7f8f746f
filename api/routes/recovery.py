"""Key rotation and erasure of custodial accounts (admins), over HTTP (`domain.recovery`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import AdminUser, Ctx, role_checker
from domain import recovery
from domain.schemas import AccountPublic, ErrorPublic, RecoveryCreate

router = APIRouter(tags=["recovery"], dependencies=[Depends(role_checker("admin"))])

_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
}


@router.post("/accounts/{username}/rotate-key", responses=_ERRORS)
def rotate_key(username: str, body: RecoveryCreate, ctx: Ctx, user: AdminUser) -> AccountPublic:
    """Give a citizen's or shop's custodial wallet a new key (admins): the whole balance moves
    on chain to the new address (`recoverAccount`, reason `lost_key` or `key_rotation`) and the
    old address is deregistered. Safe to retry: an interrupted rotation is finished.

    Errors: 404 `unknown_account`; 409 `no_custodial_wallet`, `account_not_ready`,
    `intents_in_flight`; 422 `paused` and other chain refusals.
    """
    return recovery.rotate_key(ctx, username, body.reason, user)


@router.delete("/citizens/{username}", status_code=204, responses=_ERRORS)
def erase_citizen(username: str, ctx: Ctx, user: AdminUser) -> None:
    """Erase a citizen (GDPR, admins): HEIT they still hold move to a fresh pseudonymous
    custodial account (`recoverAccount`, reason `erasure_request`); with no balance the address
    is deregistered and the key deleted. Then username, name, password, neighbourhood and
    sessions are removed. Tasks and payments keep only a pseudonymous account number.

    Errors: 404 `unknown_account`; 409 `not_a_citizen`, `account_not_ready`,
    `intents_in_flight`.
    """
    recovery.erase_citizen(ctx, username, user)
