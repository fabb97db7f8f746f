"""Request and response models (`XCreate`, `XPublic`): no key material, no password hashes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from domain.health_report import ChainHealth as ChainHealth
from domain.health_report import DispatcherHealth as DispatcherHealth
from domain.health_report import HealthReason as HealthReason
from domain.health_report import HealthReport as HealthReport
from domain.health_report import IndexerHealth as IndexerHealth
from domain.health_report import KeyHealth as KeyHealth
from domain.task_schemas import ApprovalOutcome as ApprovalOutcome
from domain.task_schemas import TaskApprovals as TaskApprovals
from domain.task_schemas import TaskApprovalsPublic as TaskApprovalsPublic
from domain.task_schemas import (  # the task schemas, kept in a module of their own
    TaskCreate as TaskCreate,
)
from domain.task_schemas import TaskEdit as TaskEdit
from domain.task_schemas import TaskProofPublic as TaskProofPublic
from domain.task_schemas import TaskPublic as TaskPublic
from domain.task_schemas import TaskReject as TaskReject
from domain.task_schemas import TaskWithdraw as TaskWithdraw

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"
"""What a username may be (1..64 characters): an erased account's `#erased-<id>` never is."""
Username = Field(min_length=1, max_length=64, pattern=USERNAME_PATTERN)
Password = Field(min_length=8, max_length=256)

UINT256_MAX = 2**256 - 1
"""Largest value of a Solidity uint256: bound of amounts and times signed for the chain."""
SQL_INT_MAX = 2**63 - 1
"""Largest SQLite INTEGER: bound of ids and block numbers that reach a query."""

RefundOf = Field(
    default=None,
    min_length=1,
    max_length=100,
    description="A refund (shop to citizen) names the payments it returns: ids of that "
    "citizen's confirmed payments to this shop. The amount is taken from them newest first "
    "(highest id), each up to what is left of it; at most what is left of them in total.",
)
"""`refund_of`: ids of the payments a refund returns (1..100 of them)."""


class Token(BaseModel):
    """A bearer token (send as `Authorization: Bearer <access_token>`)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    role: str
    expires_in: int


class LoginRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)
    otp: str | None = Field(
        default=None,
        max_length=32,
        description="Staff (while HEITJE_STAFF_SECOND_FACTOR is on): the 6-digit code of the "
        "authenticator app, or a recovery code. Ignored for citizens and shops.",
    )


class CitizenCreate(BaseModel):
    """Citizen sign-up: a custodial wallet is made and registered on chain."""

    username: str = Username
    password: str = Password
    name: str = Field(min_length=1, max_length=200)
    neighbourhood: str = Field(default="", max_length=200)
    consent: bool = Field(
        default=False,
        description="The citizen agreed to the privacy statement (recorded with the time; the "
        "sign-up page requires it).",
    )


class ShopCreate(BaseModel):
    """Shop sign-up; `iban` is validated (ISO 13616 checksum, via schwifty). The KvK number and
    the structured address (street, house number, postcode, town: what a SEPA transfer carries
    of its payee) are optional here and checked when given (`domain.shops.details_of`)."""

    username: str = Username
    password: str = Password
    name: str = Field(min_length=1, max_length=70)
    category: str = Field(default="", max_length=100)
    iban: str = Field(max_length=64)
    bic: str | None = Field(default=None, max_length=11)
    address: str | None = Field(
        default=None,
        max_length=42,
        description="The shop's own Ethereum wallet (non-custodial); needs `signature`.",
    )
    signature: str | None = Field(
        default=None,
        max_length=140,
        description="EIP-191 personal signature by `address` of "
        "'Heitje: <address> is the wallet of shop <username>'.",
    )
    kvk: str | None = Field(
        default=None, max_length=20, description="KvK number: exactly 8 digits (422 `invalid_kvk`)."
    )
    street: str | None = Field(default=None, max_length=70, description="Street of the shop.")
    house_number: str | None = Field(default=None, max_length=16, description="House number.")
    postcode: str | None = Field(
        default=None,
        max_length=10,
        description="Dutch postcode, 4 digits and 2 letters ('1234 AB'; 422 `invalid_postcode`).",
    )
    town: str | None = Field(default=None, max_length=35, description="Town of the shop.")


class RecoveryCreate(BaseModel):
    """Why the account's key is replaced: `lost_key` or `key_rotation`."""

    reason: Literal["lost_key", "key_rotation"] = "key_rotation"


class RelayTransfer(BaseModel):
    """An EIP-3009 TransferWithAuthorization signed by a shop's own wallet. `value` in base
    units (1 HEIT = 100); `nonce` 0x + 64 hex; `r`, `s` 0x + 64 hex. Integers are uint256
    (at most 2^256 - 1, else 422 `invalid_request`)."""

    from_: str = Field(alias="from", max_length=42)
    to: str = Field(max_length=42)
    value: int = Field(gt=0, le=UINT256_MAX)
    valid_after: int = Field(ge=0, le=UINT256_MAX)
    valid_before: int = Field(gt=0, le=UINT256_MAX)
    nonce: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    v: int = Field(ge=0, le=255)
    r: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    s: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    refund_of: list[Annotated[int, Field(ge=1, le=SQL_INT_MAX)]] | None = RefundOf


class RelayRedemption(BaseModel):
    """A RedeemWithAuthorization signed by a shop's own wallet. `amount` in base units;
    integers are uint256 (at most 2^256 - 1, else 422 `invalid_request`)."""

    shop: str = Field(max_length=42)
    amount: int = Field(gt=0, le=UINT256_MAX)
    valid_after: int = Field(ge=0, le=UINT256_MAX)
    valid_before: int = Field(gt=0, le=UINT256_MAX)
    nonce: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    v: int = Field(ge=0, le=255)
    r: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    s: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class RelayedPublic(BaseModel):
    """A relayed transaction: its hash and the block it was mined in; `redemption_id` for a
    redemption."""

    tx_hash: str
    redemption_id: int | None = None
    block_number: int | None = None


class StaffCreate(BaseModel):
    """A staff account, made by an admin."""

    username: str = Username
    password: str = Password
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "coordinator", "finance", "auditor"]


class AccountPublic(BaseModel):
    """An account as others may see it. `registered`: the chain knows its address."""

    username: str
    role: str
    name: str
    address: str | None
    registered: bool | None = None


class SignedUp(AccountPublic):
    """A new citizen or shop (`POST /citizens`, `POST /shops`), logged in at once: a bearer
    token as `POST /auth/token` gives (`access_token`, `token_type`, `expires_in` seconds)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class ShopPublic(BaseModel):
    username: str
    name: str
    category: str
    address: str


class ShopApplication(BaseModel):
    """A shop's application as admins review it: `status` pending | approved | rejected (only
    an approved shop is registered on chain, listed and payable); `iban` compact, `bic` as
    given or derived from the IBAN; `created_at` the sign-up (ISO 8601, UTC); `reviewed_by`
    the admin's username (null before review or when decided from the command line)."""

    username: str
    name: str
    category: str
    iban: str
    bic: str | None
    address: str | None
    status: str
    created_at: str
    reviewed_by: str | None
    reviewed_at: str | None


class PaymentCreate(BaseModel):
    """Pay `to` (a username) `amount` HEIT (decimal string); a refund names `refund_of`."""

    to: str = Field(max_length=64)
    amount: str = Field(max_length=32)
    refund_of: list[Annotated[int, Field(ge=1, le=SQL_INT_MAX)]] | None = RefundOf


class RefundPart(BaseModel):
    """How much of payment `payment_id` a refund returns (`amount` in HEIT)."""

    payment_id: int
    amount: str


class ReceivedPayment(BaseModel):
    """A payment a shop received: `id` (name it in a refund's `refund_of`), `payer` username,
    `amount`, `refunded` (refunds confirmed or on their way) and `refundable` (what is left) in
    HEIT, `status` pending | confirmed, `tx_hash`, `created_at` (ISO 8601, UTC)."""

    id: int
    payer: str
    amount: str
    refunded: str
    refundable: str
    status: str
    tx_hash: str | None
    created_at: str


class PaymentPublic(BaseModel):
    """A payment: `payer` and `payee` usernames, `amount` in HEIT, `status` pending |
    confirmed | failed, the relayed transaction's hash and the block it was mined in (read the
    wallet with `min_block` set to it to see the payment)."""

    id: int
    payer: str
    payee: str
    amount: str
    status: str
    tx_hash: str | None
    block_number: int | None = None
    refund_of: list[RefundPart] = []


class RedemptionCreate(BaseModel):
    """Redeem `amount` HEIT for euros (burned; paid at the next settlement)."""

    amount: str = Field(max_length=32)


class RedemptionPublic(BaseModel):
    """A redemption: `status` confirmed (burned at the confirmation depth, `redemption_id`
    set) or pending (`tx_hash` in flight; `redemption_id` null until confirmed)."""

    redemption_id: int | None
    amount: str
    tx_hash: str
    block_number: int | None = None
    status: str = "confirmed"


class WalletPublic(BaseModel):
    """Balance from the SQL mirror (as of `as_of_block`)."""

    username: str
    address: str
    balance: str
    as_of_block: int | None


class HistoryItem(BaseModel):
    kind: str
    amount: str
    counterparty: str | None
    block_number: int
    timestamp: int
    tx_hash: str


class ErrorPublic(BaseModel):
    """Every refusal: a stable machine `code` and a human `message`."""

    code: str
    message: str


# ----- health (GET /health, `heitje status`) -----
# HealthReport and its parts live in domain.health_report (imported above): `heitje status`
# loads them without the rest of this module.


class HealthPublic(HealthReport):
    """`GET /health`: the report plus the answering process's `instance` id."""

    instance: str
