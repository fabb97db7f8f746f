"""Sign-up of citizens and shops (custodial wallets), staff accounts, the shop list."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi import APIRouter, Depends, Request
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from web3 import Web3

from api.accounts import create_user
from api.db import transaction
from api.deps import SessionDep, SettingsDep, role_checker
from api.errors import ApiError
from api.schemas import (
    AccountPublic,
    CitizenCreate,
    ErrorPublic,
    ShopCreate,
    ShopPublic,
    StaffCreate,
)

router = APIRouter(tags=["accounts"])


def _wake(request: Request) -> None:
    dispatcher = request.app.state.dispatcher
    if dispatcher is not None:
        dispatcher.wake()


@router.post("/citizens", status_code=201, responses={409: {"model": ErrorPublic}})
def sign_up_citizen(
    body: CitizenCreate, conn: SessionDep, settings: SettingsDep, request: Request
) -> AccountPublic:
    """Sign up as a citizen. A custodial key is made (AES-GCM at rest) and its address is
    registered on chain as a citizen by the dispatcher (`registered` turns true in /auth/me).

    Errors: 409 `username_taken`; 422 `invalid_request`.
    """
    kek = settings.key_encryption_key()
    with transaction(conn):
        user_id = create_user(
            conn,
            username=body.username,
            password=body.password,
            name=body.name,
            role="citizen",
            kek=kek,
        )
        conn.execute("INSERT INTO citizens VALUES (?,?)", (user_id, body.neighbourhood))
        address = conn.execute("SELECT address FROM users WHERE id=?", (user_id,)).fetchone()[0]
    _wake(request)
    return AccountPublic(
        username=body.username, role="citizen", name=body.name, address=address, registered=False
    )


@router.post("/shops", status_code=201, responses={409: {"model": ErrorPublic}})
def sign_up_shop(
    body: ShopCreate, conn: SessionDep, settings: SettingsDep, request: Request
) -> AccountPublic:
    """Sign up a shop with the IBAN it is paid on (validated: ISO 13616 checksum and country
    format, via schwifty; spaces removed, upper-cased). A custodial key is made and registered
    on chain as a shop, or, with `address` and `signature`, the shop's own Ethereum wallet
    (non-custodial) is registered once the EIP-191 signature proves it holds that key.

    Errors: 422 `invalid_iban`, `invalid_signature`; 409 `username_taken`, `address_taken`;
    422 `invalid_request`.
    """
    own = _own_wallet(body)
    try:
        iban = IBAN(body.iban.replace(" ", "").upper())
    except SchwiftyException as e:
        raise ApiError(422, "invalid_iban", f"IBAN {body.iban!r} is not valid: {e}") from None
    bic = body.bic
    if bic is None and iban.bic is not None:
        bic = str(iban.bic)
    kek = settings.key_encryption_key()
    with transaction(conn):
        user_id = create_user(
            conn,
            username=body.username,
            password=body.password,
            name=body.name,
            role="shop",
            kek=kek,
            own_address=own,
        )
        conn.execute(
            "INSERT INTO shops VALUES (?,?,?,?)", (user_id, body.category, iban.compact, bic)
        )
        address = conn.execute("SELECT address FROM users WHERE id=?", (user_id,)).fetchone()[0]
    _wake(request)
    return AccountPublic(
        username=body.username, role="shop", name=body.name, address=address, registered=False
    )


def wallet_claim(address: str, username: str) -> str:
    """The text a shop signs (EIP-191 personal_sign) to prove it holds `address`."""
    return f"Heitje: {address} is the wallet of shop {username}"


def _own_wallet(body: ShopCreate) -> str | None:
    if body.address is None and body.signature is None:
        return None
    if body.address is None or body.signature is None or not Web3.is_address(body.address):
        raise ApiError(422, "invalid_signature", "give both a valid `address` and `signature`")
    address = Web3.to_checksum_address(body.address)
    try:
        signer = Account.recover_message(
            encode_defunct(text=wallet_claim(address, body.username)), signature=body.signature
        )
    except Exception:
        signer = None
    if signer != address:
        raise ApiError(
            422, "invalid_signature", f"the signature is not by {address} over the wallet claim"
        )
    return address


@router.post("/staff", status_code=201, dependencies=[Depends(role_checker("admin"))])
def create_staff(body: StaffCreate, conn: SessionDep) -> AccountPublic:
    """Create a coordinator, finance, auditor or admin account (admins only). No wallet.

    Errors: 403 `forbidden`, 409 `username_taken`.
    """
    with transaction(conn):
        create_user(
            conn,
            username=body.username,
            password=body.password,
            name=body.name,
            role=body.role,
            kek=None,
        )
    return AccountPublic(username=body.username, role=body.role, name=body.name, address=None)


@router.get("/shops")
def list_shops(conn: SessionDep) -> list[ShopPublic]:
    """Shops that take HEIT (username, name, category, address); public."""
    rows = conn.execute(
        "SELECT u.username, u.name, s.category, u.address FROM users u "
        "JOIN shops s ON s.user_id = u.id ORDER BY u.name"
    ).fetchall()
    return [ShopPublic(**dict(r)) for r in rows]
