"""Key rotation and erasure of custodial accounts (admins), using the token's `recoverAccount`.

Rotation: a new custodial key is made and stored (pending) first, then registered on chain, then
the registrar moves the whole balance to it (`recoverAccount`, reason lost key or key rotation),
then the account switches keys in one database transaction. Each step checks the chain first, so
a retry after a failure at any point finishes the job without doing anything twice.

Erasure (GDPR): the citizen's balance moves to a fresh pseudonymous custodial account (reason
erasure request) or, with nothing to move, the address is deregistered; then every personal
field (username, name, password, neighbourhood, sessions) is removed. The chain never held any.
"""

from __future__ import annotations

import sqlite3

from fastapi import APIRouter, Depends

from api.accounts import is_registered, now_iso, user_by_username
from api.chain import ChainService
from api.db import transaction
from api.deps import ChainDep, SessionDep, SettingsDep, role_checker
from api.errors import ApiError
from api.schemas import AccountPublic, ErrorPublic, RecoveryCreate
from api.security import new_custodial_key
from node.contract import AccountKind
from node.token import RecoveryReason

router = APIRouter(tags=["recovery"], dependencies=[Depends(role_checker("admin"))])

_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
}
_REASONS = {
    "lost_key": RecoveryReason.LOST_KEY,
    "key_rotation": RecoveryReason.KEY_ROTATION,
    "erasure_request": RecoveryReason.ERASURE_REQUEST,
}


def _rotate(
    conn: sqlite3.Connection, chain: ChainService, kek: bytes, user: sqlite3.Row, reason: str
) -> str:
    """Run (or finish) the rotation of `user`'s custodial key; returns the new address."""
    if (
        user["address"] is None
        or not conn.execute(
            "SELECT 1 FROM custodial_keys WHERE user_id = ?", (user["id"],)
        ).fetchone()
    ):
        raise ApiError(409, "no_custodial_wallet", "this account has no custodial wallet")
    if not is_registered(conn, user["id"]):
        raise ApiError(409, "account_not_ready", "the wallet is not yet registered on chain")
    if conn.execute(
        "SELECT 1 FROM intents WHERE user_id = ? AND status = 'sent'", (user["id"],)
    ).fetchone():
        raise ApiError(409, "intents_in_flight", "a transaction for this account is in flight")
    with transaction(conn):
        pending = conn.execute(
            "SELECT * FROM key_rotations WHERE user_id = ?", (user["id"],)
        ).fetchone()
        if pending is None:
            address, nonce, ct = new_custodial_key(kek)
            conn.execute(
                "INSERT INTO key_rotations VALUES (?,?,?,?,?,?)",
                (user["id"], address, nonce, ct, reason, now_iso()),
            )
            pending = conn.execute(
                "SELECT * FROM key_rotations WHERE user_id = ?", (user["id"],)
            ).fetchone()
    old, new = user["address"], pending["new_address"]
    kind = AccountKind.CITIZEN if user["role"] == "citizen" else AccountKind.SHOP
    token = chain.token
    if token.account_kind(new) == AccountKind.NONE:
        chain.registrar.transact(token.register_account_tx(new, kind))
    if token.account_kind(old) != AccountKind.NONE:
        why = _REASONS[pending["reason"]]
        chain.registrar.transact(token.recover_account_tx(old, new, why))
    with transaction(conn):
        conn.execute("UPDATE users SET address = ? WHERE id = ?", (new, user["id"]))
        conn.execute(
            "INSERT OR IGNORE INTO account_addresses VALUES (?,?,?)", (new, user["id"], now_iso())
        )
        conn.execute(
            "UPDATE custodial_keys SET address = ?, nonce = ?, ciphertext = ? WHERE user_id = ?",
            (new, pending["nonce"], pending["ciphertext"], user["id"]),
        )
        conn.execute(
            "UPDATE intents SET account = ? WHERE user_id = ? AND status = 'pending'",
            (new, user["id"]),
        )
        conn.execute("DELETE FROM key_rotations WHERE user_id = ?", (user["id"],))
    return str(new)


@router.post("/accounts/{username}/rotate-key", responses=_ERRORS)
def rotate_key(
    username: str, body: RecoveryCreate, conn: SessionDep, chain: ChainDep, settings: SettingsDep
) -> AccountPublic:
    """Give a citizen's or shop's custodial wallet a new key (admins): the whole balance moves
    on chain to the new address (`recoverAccount`, reason `lost_key` or `key_rotation`) and the
    old address is deregistered. Safe to retry: an interrupted rotation is finished.

    Errors: 404 `unknown_account`; 409 `no_custodial_wallet`, `account_not_ready`,
    `intents_in_flight`; 422 `paused` and other chain refusals.
    """
    user = user_by_username(conn, username)
    if user["role"] not in ("citizen", "shop"):
        raise ApiError(409, "no_custodial_wallet", "only citizens and shops have wallets")
    address = _rotate(conn, chain, settings.key_encryption_key(), user, body.reason)
    return AccountPublic(
        username=user["username"],
        role=user["role"],
        name=user["name"],
        address=address,
        registered=True,
    )


@router.delete("/citizens/{username}", status_code=204, responses=_ERRORS)
def erase_citizen(username: str, conn: SessionDep, chain: ChainDep, settings: SettingsDep) -> None:
    """Erase a citizen (GDPR, admins): HEIT they still hold move to a fresh pseudonymous
    custodial account (`recoverAccount`, reason `erasure_request`); with no balance the address
    is deregistered and the key deleted. Then username, name, password, neighbourhood and
    sessions are removed. Tasks and payments keep only a pseudonymous account number.

    Errors: 404 `unknown_account`; 409 `not_a_citizen`, `account_not_ready`,
    `intents_in_flight`.
    """
    user = user_by_username(conn, username)
    if user["role"] != "citizen":
        raise ApiError(409, "not_a_citizen", f"{username!r} is not a citizen")
    if conn.execute(
        "SELECT 1 FROM intents WHERE user_id = ? AND status IN ('pending','sent')", (user["id"],)
    ).fetchone():
        raise ApiError(
            409, "intents_in_flight", "a reward for this citizen is still on its way; try later"
        )
    token = chain.token
    old = user["address"]
    if old is not None and token.balance_of(old) > 0:
        _rotate(conn, chain, settings.key_encryption_key(), user, "erasure_request")
        keep_wallet = True
    else:
        if old is not None and token.account_kind(old) != AccountKind.NONE:
            chain.registrar.transact(token.register_account_tx(old, AccountKind.NONE))
        keep_wallet = False
    with transaction(conn):
        uid = user["id"]
        conn.execute("DELETE FROM sessions WHERE user_id = ?", (uid,))
        conn.execute("DELETE FROM citizens WHERE user_id = ?", (uid,))
        if not keep_wallet:
            conn.execute("DELETE FROM custodial_keys WHERE user_id = ?", (uid,))
            conn.execute("DELETE FROM intents WHERE user_id = ? AND status = 'pending'", (uid,))
        conn.execute(
            "UPDATE users SET username = ?, name = '', password_hash = '!', "
            "address = CASE WHEN ? THEN address END WHERE id = ?",
            (f"erased-{uid}", keep_wallet, uid),
        )
