"""Key rotation and erasure of custodial accounts, using the token's `recoverAccount`.

Rotation: a new custodial key is made and stored (pending) first, then registered on chain, then
the registrar moves the whole balance to it (`recoverAccount`, reason lost key or key rotation),
then the account switches keys in one database transaction. Each step checks the chain first, so
a retry after a failure at any point finishes the job without doing anything twice.

Erasure (GDPR): the citizen's balance moves to a fresh pseudonymous custodial account (reason
erasure request) or, with nothing to move, the address is deregistered; then every personal
field (username, name, password, neighbourhood, sessions) is removed. The chain never held any.
"""

from __future__ import annotations

from domain import staff_log
from domain.accounts import is_registered, user_by_username
from domain.context import Caller, Context
from domain.keyring import seal_new_key
from domain.schemas import AccountPublic
from heitje.errors import Refused
from node.contract import AccountKind
from node.token import RecoveryReason
from store import accounts, outbox
from store.db import transaction

REASONS = {
    "lost_key": RecoveryReason.LOST_KEY,
    "key_rotation": RecoveryReason.KEY_ROTATION,
    "erasure_request": RecoveryReason.ERASURE_REQUEST,
}


def _rotate(ctx: Context, user: Caller, reason: str) -> str:
    """Run (or finish) the rotation of `user`'s custodial key; returns the new address."""
    db = ctx.db
    if user.address is None or accounts.custodial_key(db, user.id) is None:
        raise Refused(409, "no_custodial_wallet", "this account has no custodial wallet")
    if not is_registered(ctx, user.id):
        raise Refused(409, "account_not_ready", "the wallet is not yet registered on chain")
    if outbox.has_open(db, user.id, ("sent",)):
        raise Refused(409, "intents_in_flight", "a transaction for this account is in flight")
    with transaction(db):
        pending = accounts.pending_rotation(db, user.id)
        if pending is None:
            address, nonce, ct, key_id = seal_new_key(ctx)
            accounts.start_rotation(db, user.id, address, nonce, ct, reason, key_id)
            pending = accounts.pending_rotation(db, user.id)
    assert pending is not None
    old, new = user.address, pending["new_address"]
    kind = AccountKind.CITIZEN if user.role == "citizen" else AccountKind.SHOP
    chain = ctx.chain
    token = chain.token
    if token.account_kind(new) == AccountKind.NONE:
        chain.registrar.transact(token.register_account_tx(new, kind))
    if token.account_kind(old) != AccountKind.NONE:
        chain.registrar.transact(token.recover_account_tx(old, new, REASONS[pending["reason"]]))
    with transaction(db):  # read again: its sealed key may have been re-encrypted meanwhile
        accounts.finish_rotation(db, user.id, accounts.pending_rotation(db, user.id) or pending)
    return str(new)


def rotate_key(
    ctx: Context, username: str, reason: str, caller: Caller | None = None
) -> AccountPublic:
    """Give a citizen's or shop's custodial wallet a new key: the whole balance moves on chain
    to the new address (`recoverAccount`, reason `lost_key` or `key_rotation`) and the old
    address is deregistered. Safe to retry: an interrupted rotation is finished.

    The admin `caller` (None: the command line) is recorded in the staff log
    (`account.rotate_key`, on the account's number, not its name) once the rotation is done.

    Errors: 404 `unknown_account`; 409 `no_custodial_wallet`, `account_not_ready`,
    `intents_in_flight`; 422 `paused` and other chain refusals.
    """
    user = user_by_username(ctx, username)
    if user.role not in ("citizen", "shop"):
        raise Refused(409, "no_custodial_wallet", "only citizens and shops have wallets")
    address = _rotate(ctx, user, reason)
    if caller is not None:
        with transaction(ctx.db):
            staff_log.record(
                ctx, caller, "account.rotate_key", f"account {user.id}", reason,
                role=user.role, address=address,
            )  # fmt: skip
    return AccountPublic(
        username=user.username, role=user.role, name=user.name, address=address, registered=True
    )


def erase_citizen(ctx: Context, username: str, caller: Caller | None = None) -> None:
    """Erase a citizen (GDPR): HEIT they still hold move to a fresh pseudonymous custodial
    account (`recoverAccount`, reason `erasure_request`); with no balance the address is
    deregistered and the key deleted. Then username, name, password, neighbourhood and
    sessions are removed. Tasks and payments keep only a pseudonymous account number.

    The admin `caller` (None: the command line) is recorded in the staff log
    (`citizen.erase`, on the account's number) in the erasure's transaction.

    Errors: 404 `unknown_account`; 409 `not_a_citizen`, `account_not_ready`,
    `intents_in_flight`.
    """
    user = user_by_username(ctx, username)
    if user.role != "citizen":
        raise Refused(409, "not_a_citizen", f"{username!r} is not a citizen")
    if outbox.has_open(ctx.db, user.id):
        raise Refused(
            409, "intents_in_flight", "a reward for this citizen is still on its way; try later"
        )
    chain = ctx.chain
    token = chain.token
    old = user.address
    if old is not None and token.balance_of(old) > 0:
        _rotate(ctx, user, "erasure_request")
        keep_wallet = True
    else:
        if old is not None and token.account_kind(old) != AccountKind.NONE:
            chain.registrar.transact(token.register_account_tx(old, AccountKind.NONE))
        keep_wallet = False
    with transaction(ctx.db):
        accounts.erase_citizen(ctx.db, user.id, keep_wallet=keep_wallet)
        if caller is not None:  # on the account's number: the name is what is erased
            staff_log.record(
                ctx, caller, "citizen.erase", f"account {user.id}", "erasure request",
                kept_wallet=keep_wallet,
            )  # fmt: skip
