"""Accounts: sign-up of citizens and shops (custodial or own wallet), staff, log-in and
sessions, the shop list. A wallet's address is queued for registration on chain in the same
database transaction that creates the account (`domain.outbox`)."""

from __future__ import annotations

import ipaddress
import math
import re
import time
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from schwifty import IBAN
from web3 import Web3

from domain import shops, staff_log
from domain.context import Caller, Context
from domain.keyring import open_sealed, seal_new_key
from domain.schemas import (
    USERNAME_PATTERN,
    AccountPublic,
    CitizenCreate,
    ShopApplication,
    ShopCreate,
    ShopPublic,
    StaffCreate,
)
from domain.security import hash_password
from domain.settlement.sepa import check_creditor
from heitje.errors import ConfigError, InvalidInput, Refused, Throttled
from store import accounts, outbox, payees, staff_admin
from store.db import transaction

WALLET_ROLES = ("citizen", "shop")


def _create(
    ctx: Context,
    *,
    username: str,
    password_hash: str,
    name: str,
    role: str,
    custodial: bool,
    own_address: str | None = None,
    register: bool = True,
) -> tuple[int, str | None]:
    """Insert an account (inside the caller's transaction); returns (id, address). A custodial
    wallet gets a new key sealed under the KEK; with `register` a wallet address is queued for
    registration (a shop's waits for an admin's approval, `review_shop`). `password_hash`:
    `hash_password`'s, worked out before BEGIN IMMEDIATE where it can (0.2 s of argon2id CPU).
    Raises 409 `username_taken`, `address_taken`."""
    db = ctx.db
    if accounts.username_taken(db, username):
        raise Refused(409, "username_taken", f"the username {username!r} is taken")
    if own_address is not None and accounts.address_taken(db, own_address):
        raise Refused(409, "address_taken", f"{own_address} belongs to another account")
    address = own_address
    sealed: tuple[bytes, bytes, str] | None = None
    if custodial and own_address is None:
        address, nonce, ct, key_id = seal_new_key(ctx)
        sealed = (nonce, ct, key_id)
    user_id = accounts.insert_user(
        db,
        username=username,
        role=role,
        password_hash=password_hash,
        name=name,
        address=address,
    )
    if sealed is not None and address is not None:
        accounts.insert_custodial_key(db, user_id, address, *sealed)
    if address is not None and register:
        outbox.add_registration(db, user_id, address, role)
    return user_id, address


SIGNUP_WINDOW = 3600.0
"""Seconds over which sign-ups are counted for the throttle (one hour)."""


def signup_client(client: str) -> str:
    """The address a sign-up is counted under: an IPv4 address as is, an IPv6 address by its
    /64 network (one subscriber's LAN, RFC 6177 / RFC 7421: a client holds a whole /64, so
    counting each /128 would let it sign up without limit), an IPv4-mapped IPv6 address as its
    IPv4 address; anything else (no address known) as given."""
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def _throttle_signup(ctx: Context, client: str) -> None:
    """Count a citizen's or shop's sign-up attempt from `client` (in a transaction of its own,
    so a refused one counts too: probing which usernames are taken costs a sign-up), or refuse
    it: at most `signup_per_address_per_hour` from one client address (an IPv6
    client by its /64, `signup_client`) and `signup_per_hour` from all together in the last
    hour (real time, not business time), citizens and shops counted together.

    Errors: 429 `signup_throttled` (`Throttled`, `retry_after`: seconds until the oldest
    counted sign-up leaves the hour).
    """
    client = signup_client(client)
    now = time.time()
    since = now - SIGNUP_WINDOW
    settings = ctx.settings
    for who, limit in (
        (client, settings.signup_per_address_per_hour),
        (None, settings.signup_per_hour),
    ):
        if accounts.count_signups(ctx.db, since, who) >= limit:
            wait = accounts.oldest_signup(ctx.db, since, who) + SIGNUP_WINDOW - now
            scope = "from your address" if who is not None else "in all"
            raise Throttled(
                "signup_throttled",
                f"too many sign-ups {scope} in the last hour (at most {limit}); try again later",
                math.ceil(max(wait, 1.0)),
            )
    accounts.record_signup(ctx.db, client, now, since)


def sign_up_citizen(ctx: Context, body: CitizenCreate, client: str = "") -> AccountPublic:
    """Sign up a citizen with a custodial wallet (registered on chain by the outbox, in a
    batch with other sign-ups). `client` is the client's address (the throttle counts per
    address and in all, per hour: `_throttle_signup`). With `body.consent` the time of the
    citizen's consent to the privacy statement is recorded (`users.consented_at`).

    Errors: 409 `username_taken`; 429 `signup_throttled` (with `Retry-After`); `ConfigError`
    when the KEK is missing.
    """
    ctx.settings.key_encryption_key()
    with transaction(ctx.db):  # counted even when the sign-up is refused (no free probing)
        _throttle_signup(ctx, client)
    hashed = hash_password(body.password)  # outside the write lock, which others wait for
    with transaction(ctx.db):
        user_id, address = _create(
            ctx,
            username=body.username,
            password_hash=hashed,
            name=body.name,
            role="citizen",
            custodial=True,
        )
        accounts.insert_citizen(ctx.db, user_id, body.neighbourhood)
        if body.consent:
            accounts.set_consent(ctx.db, user_id)
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


def sign_up_shop(ctx: Context, body: ShopCreate, client: str = "") -> AccountPublic:
    """Sign up a shop with the IBAN it is paid on (ISO 13616 checksum and country format via
    schwifty; stored compact). A custodial wallet is made, or with `address` and `signature`
    the shop's own wallet is used once the EIP-191 signature proves it holds that key. The shop
    is `pending`: not registered on chain, not listed, not payable until an admin approves it
    (`review_shop`).

    The payee is checked as a SEPA transfer will carry it (`check_creditor`): IBAN in the SEPA
    zone, BIC (if given) valid and of the IBAN's bank where schwifty can tell, and the name
    transliterated to the EPC basic Latin set, kept as `sepa_name` for the pain.001.

    Errors: 422 `invalid_iban`, `iban_not_sepa`, `invalid_bic`, `bic_mismatch`,
    `invalid_payee_name`, `invalid_signature`, `invalid_kvk`, `invalid_postcode`; 409
    `username_taken`, `address_taken`; 429 `signup_throttled` (with `Retry-After`): `client` is
    the client's address, counted with citizen sign-ups (`_throttle_signup`).

    The KvK number and structured address, when given, are checked and kept with the shop
    (`domain.shops.details_of`: 8 digits; postcode "1234 AB").
    """
    shops.details_of(body)  # refused before anything is made
    own = _own_wallet(body)
    try:
        creditor = check_creditor(body.name, body.iban, body.bic, "shop")
    except InvalidInput as e:
        raise Refused(422, e.code, e.message) from None
    bic = creditor.bic
    if bic is None:
        derived = IBAN(creditor.iban).bic
        bic = None if derived is None else str(derived)
    ctx.settings.key_encryption_key()
    with transaction(ctx.db):  # counted even when the sign-up is refused (no free probing)
        _throttle_signup(ctx, client)
    hashed = hash_password(body.password)  # outside the write lock, which others wait for
    with transaction(ctx.db):
        user_id, address = _create(
            ctx,
            username=body.username,
            password_hash=hashed,
            name=body.name,
            role="shop",
            custodial=True,
            own_address=own,
            register=False,
        )
        accounts.insert_shop(ctx.db, user_id, body.category, creditor.iban, bic)
        payees.set_sepa_name(ctx.db, user_id, creditor.name)
        shops.store_details(ctx, user_id, body)
    ctx.wake()
    return AccountPublic(
        username=body.username, role="shop", name=body.name, address=address, registered=False
    )


def create_staff(
    ctx: Context, body: StaffCreate, caller: Caller | None = None, reason: str = ""
) -> AccountPublic:
    """Create a coordinator, finance, auditor or admin account (no wallet). With `caller`
    (the admin) `staff.create` goes in the staff log in the same transaction, with `reason`
    and the role.

    Errors: 409 `username_taken`.
    """
    hashed = hash_password(body.password)  # outside the write lock, which others wait for
    with transaction(ctx.db):
        _create(
            ctx,
            username=body.username,
            password_hash=hashed,
            name=body.name,
            role=body.role,
            custodial=False,
        )
        if caller is not None:
            staff_log.record(ctx, caller, "staff.create", body.username, reason, role=body.role)
    return AccountPublic(username=body.username, role=body.role, name=body.name, address=None)


def bootstrap_admin(ctx: Context, username: str, password: str) -> bool:
    """Create the first admin when none exists; True when it did. `ConfigError` when
    `username` is no valid username (`USERNAME_PATTERN`, at most 64 characters)."""
    if len(username) > 64 or re.fullmatch(USERNAME_PATTERN, username) is None:
        raise ConfigError(
            f"HEITJE_BOOTSTRAP_ADMIN_USERNAME {username!r} is no valid username "
            "(a letter or digit, then letters, digits, _ . @ -; at most 64)"
        )
    with transaction(ctx.db):
        if accounts.has_admin(ctx.db):
            return False
        _create(
            ctx,
            username=username,
            password_hash=hash_password(password),  # only when there is no admin
            name="Administrator",
            role="admin",
            custodial=False,
        )
    return True


def list_shops(ctx: Context) -> list[ShopPublic]:
    """Shops that take HEIT (approved by an admin: username, name, category, address), by
    name."""
    return [ShopPublic(**row) for row in accounts.shops(ctx.db)]


SHOP_STATUSES = ("pending", "approved", "rejected")


def shop_applications(ctx: Context, status: str | None = "pending") -> list[ShopApplication]:
    """Shops with their application (IBAN, BIC, wallet address, status, reviewer), oldest
    first; only those with `status` (pending, approved, rejected) unless it is None.

    Errors: 422 `invalid_status`.
    """
    if status is not None and status not in SHOP_STATUSES:
        raise Refused(422, "invalid_status", f"status must be one of {', '.join(SHOP_STATUSES)}")
    return [ShopApplication(**row) for row in accounts.shop_applications(ctx.db, status)]


def review_shop(
    ctx: Context, caller: Caller | None, username: str, *, approve: bool, reason: str = ""
) -> ShopApplication:
    """An admin approves or rejects the pending shop `username`. Approval queues its wallet's
    registration on chain as a shop (outbox, same transaction); from then on it is listed, and
    payable once registered. Rejection keeps it off chain for good; its `reason` (when given)
    is kept and the shop reads it on its page (`decline_reason`). `caller` is the admin (None
    from the command line, which runs with the data directory's own authority); with an admin
    the decision goes in the staff log (`shop.approve`, `shop.reject`) in the same transaction.

    Errors: 404 `unknown_shop`; 409 `shop_not_pending` (already approved or rejected).
    """
    reason = " ".join(reason.split())
    with transaction(ctx.db):
        row = accounts.by_username(ctx.db, username)
        status = accounts.shop_status(ctx.db, row["id"]) if row is not None else None
        if row is None or status is None:
            raise Refused(404, "unknown_shop", f"no shop named {username!r}")
        if status != "pending":
            raise Refused(409, "shop_not_pending", f"shop {username!r} is already {status}")
        decision = "approved" if approve else "rejected"
        reviewer = None if caller is None else caller.id
        accounts.set_shop_status(ctx.db, row["id"], decision, reviewer)
        if approve and row["address"] is not None:
            outbox.add_registration(ctx.db, row["id"], row["address"], "shop")
        if not approve and reason:
            staff_admin.set_decline_reason(ctx.db, row["id"], reason)
        if caller is not None:
            action = "shop.approve" if approve else "shop.reject"
            staff_log.record(ctx, caller, action, row["username"], reason)
    if approve:
        ctx.wake()
    return next(s for s in shop_applications(ctx, None) if s.username == row["username"])


def shop_reviews(ctx: Context) -> list[dict[str, Any]]:
    """Every shop application for the admin's page, pending first (oldest first), then the
    decided ones (newest decision first): username, name, category, iban, bic, address
    (wallet), status, created_at, reviewed_by, reviewed_at, kvk, street, house_number,
    postcode, town, decline_reason (None for those not given)."""
    return staff_admin.shop_applications(ctx.db)


def decline_reason(ctx: Context, user_id: int) -> str | None:
    """Why shop `user_id`'s application was declined ("": declined without a reason kept, as
    from the API or the command line); None when it was not declined."""
    return staff_admin.decline_reason(ctx.db, user_id)


def staff_accounts(ctx: Context) -> list[dict[str, Any]]:
    """Every staff account by role, then username: id, username, name, role, created_at,
    `enabled` (False: switched off by an admin)."""
    return [
        {**row, "enabled": row["disabled_at"] is None} for row in staff_admin.staff_accounts(ctx.db)
    ]


def shop_payable(ctx: Context, user_id: int) -> bool:
    """False for a shop an admin has not approved (pending or rejected); True otherwise."""
    return accounts.shop_status(ctx.db, user_id) in (None, "approved")


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
    409 `no_custodial_wallet`; 503 `kek_changed`, `custodial_key_unreadable`
    (`domain.keyring.open_sealed`)."""
    row = accounts.custodial_key(ctx.db, user_id)
    if row is None:
        raise Refused(409, "no_custodial_wallet", "this account has no custodial wallet")
    return open_sealed(ctx, row["address"], row["nonce"], row["ciphertext"], row["key_id"])
