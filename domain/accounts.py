"""Accounts: sign-up of citizens and shops (custodial or own wallet), staff, log-in and
sessions, the shop list. A wallet's address is queued for registration on chain in the same
database transaction that creates the account (`domain.outbox`)."""

from __future__ import annotations

import time

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from web3 import Web3

from domain.context import Caller, Context
from domain.schemas import (
    AccountPublic,
    CitizenCreate,
    ShopCreate,
    ShopPublic,
    StaffCreate,
)
from domain.security import (
    DUMMY_HASH,
    hash_password,
    new_custodial_key,
    new_session_token,
    open_custodial_key,
    token_hash,
    verify_password,
)
from heitje.errors import Refused
from heitje.settings import Settings
from store import accounts, outbox
from store.db import transaction

WALLET_ROLES = ("citizen", "shop")


def _create(
    ctx: Context,
    *,
    username: str,
    password: str,
    name: str,
    role: str,
    custodial: bool,
    own_address: str | None = None,
) -> tuple[int, str | None]:
    """Insert an account (inside the caller's transaction); returns (id, address). A custodial
    wallet gets a new key sealed under the KEK; a wallet address is queued for registration.
    Raises 409 `username_taken`, `address_taken`."""
    db = ctx.db
    if accounts.username_taken(db, username):
        raise Refused(409, "username_taken", f"the username {username!r} is taken")
    if own_address is not None and accounts.address_taken(db, own_address):
        raise Refused(409, "address_taken", f"{own_address} belongs to another account")
    address = own_address
    sealed: tuple[bytes, bytes] | None = None
    if custodial and own_address is None:
        address, nonce, ct = new_custodial_key(ctx.settings.key_encryption_key())
        sealed = (nonce, ct)
    user_id = accounts.insert_user(
        db,
        username=username,
        role=role,
        password_hash=hash_password(password),
        name=name,
        address=address,
    )
    if sealed is not None and address is not None:
        accounts.insert_custodial_key(db, user_id, address, *sealed)
    if address is not None:
        outbox.add_registration(db, user_id, address, role)
    return user_id, address


def sign_up_citizen(ctx: Context, body: CitizenCreate) -> AccountPublic:
    """Sign up a citizen with a custodial wallet (registered on chain by the outbox).

    Errors: 409 `username_taken`; `ConfigError` when the KEK is missing.
    """
    ctx.settings.key_encryption_key()
    with transaction(ctx.db):
        user_id, address = _create(
            ctx,
            username=body.username,
            password=body.password,
            name=body.name,
            role="citizen",
            custodial=True,
        )
        accounts.insert_citizen(ctx.db, user_id, body.neighbourhood)
    ctx.wake()
    return AccountPublic(
        username=body.username, role="citizen", name=body.name, address=address, registered=False
    )


def wallet_claim(address: str, username: str) -> str:
    """The text a shop signs (EIP-191 personal_sign) to prove it holds `address`."""
    return f"Heitje: {address} is the wallet of shop {username}"


def _own_wallet(body: ShopCreate) -> str | None:
    if body.address is None and body.signature is None:
        return None
    if body.address is None or body.signature is None or not Web3.is_address(body.address):
        raise Refused(422, "invalid_signature", "give both a valid `address` and `signature`")
    address = Web3.to_checksum_address(body.address)
    try:
        signer = Account.recover_message(
            encode_defunct(text=wallet_claim(address, body.username)), signature=body.signature
        )
    except Exception:
        signer = None
    if signer != address:
        raise Refused(
            422, "invalid_signature", f"the signature is not by {address} over the wallet claim"
        )
    return address


def sign_up_shop(ctx: Context, body: ShopCreate) -> AccountPublic:
    """Sign up a shop with the IBAN it is paid on (ISO 13616 checksum and country format via
    schwifty; stored compact). A custodial wallet is made, or with `address` and `signature`
    the shop's own wallet is registered once the EIP-191 signature proves it holds that key.

    Errors: 422 `invalid_iban`, `invalid_signature`; 409 `username_taken`, `address_taken`.
    """
    own = _own_wallet(body)
    try:
        iban = IBAN(body.iban.replace(" ", "").upper())
    except SchwiftyException as e:
        raise Refused(422, "invalid_iban", f"IBAN {body.iban!r} is not valid: {e}") from None
    bic = body.bic
    if bic is None and iban.bic is not None:
        bic = str(iban.bic)
    ctx.settings.key_encryption_key()
    with transaction(ctx.db):
        user_id, address = _create(
            ctx,
            username=body.username,
            password=body.password,
            name=body.name,
            role="shop",
            custodial=True,
            own_address=own,
        )
        accounts.insert_shop(ctx.db, user_id, body.category, iban.compact, bic)
    ctx.wake()
    return AccountPublic(
        username=body.username, role="shop", name=body.name, address=address, registered=False
    )


def create_staff(ctx: Context, body: StaffCreate) -> AccountPublic:
    """Create a coordinator, finance, auditor or admin account (no wallet).

    Errors: 409 `username_taken`.
    """
    with transaction(ctx.db):
        _create(
            ctx,
            username=body.username,
            password=body.password,
            name=body.name,
            role=body.role,
            custodial=False,
        )
    return AccountPublic(username=body.username, role=body.role, name=body.name, address=None)


def bootstrap_admin(ctx: Context, username: str, password: str) -> bool:
    """Create the first admin when none exists; True when it did."""
    with transaction(ctx.db):
        if accounts.has_admin(ctx.db):
            return False
        _create(
            ctx,
            username=username,
            password=password,
            name="Administrator",
            role="admin",
            custodial=False,
        )
    return True


def list_shops(ctx: Context) -> list[ShopPublic]:
    """Shops that take HEIT (username, name, category, address), by name."""
    return [ShopPublic(**row) for row in accounts.shops(ctx.db)]


def user_by_username(ctx: Context, username: str) -> Caller:
    """The account named `username`; 404 `unknown_account`."""
    row = accounts.by_username(ctx.db, username)
    if row is None:
        raise Refused(404, "unknown_account", f"no account named {username!r}")
    return Caller(row["id"], row["username"], row["role"], row["name"], row["address"])


def is_registered(ctx: Context, user_id: int) -> bool:
    """True once the account's registration on chain is confirmed."""
    return outbox.registration_status(ctx.db, user_id) == "confirmed"


def me(ctx: Context, caller: Caller) -> AccountPublic:
    """The caller's account; `registered` tells whether its wallet is registered on chain."""
    return AccountPublic(
        username=caller.username,
        role=caller.role,
        name=caller.name,
        address=caller.address,
        registered=is_registered(ctx, caller.id) if caller.address else None,
    )


def custodial_key(ctx: Context, user_id: int) -> LocalAccount:
    """Decrypt the account's custodial key (in memory only, never returned or logged).
    409 `no_custodial_wallet`."""
    row = accounts.custodial_key(ctx.db, user_id)
    if row is None:
        raise Refused(409, "no_custodial_wallet", "this account has no custodial wallet")
    kek = ctx.settings.key_encryption_key()
    return open_custodial_key(kek, row["address"], row["nonce"], row["ciphertext"])


# ----- log-in and sessions -----


def authenticate(ctx: Context, username: str, password: str) -> Caller | None:
    """The account when `password` is right, else None (the same work for unknown users)."""
    row = accounts.by_username(ctx.db, username)
    ok = verify_password(password, row["password_hash"] if row else DUMMY_HASH)
    if row is None or not ok:
        return None
    return Caller(row["id"], row["username"], row["role"], row["name"], row["address"])


def open_session(ctx: Context, settings: Settings, user_id: int) -> tuple[str, int]:
    """Start a session; returns (bearer token, lifetime in seconds). Only the token's hash is
    stored."""
    token = new_session_token()
    ttl = settings.session_hours * 3600
    accounts.insert_session(ctx.db, token_hash(token), user_id, time.time() + ttl)
    return token, ttl


def session_caller(ctx: Context, token: str | None) -> Caller | None:
    """The account of a live session token, or None."""
    if not token:
        return None
    row = accounts.session_user(ctx.db, token_hash(token), time.time())
    return None if row is None else Caller(**dict(row))


def end_session(ctx: Context, token: str) -> None:
    """End the session `token`."""
    accounts.delete_session(ctx.db, token_hash(token))


def end_sessions(ctx: Context, user_id: int) -> None:
    """End every session of `user_id`."""
    accounts.delete_sessions(ctx.db, user_id)
