"""Request and response models (`XCreate`, `XPublic`): no key material, no password hashes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

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


class TaskReject(BaseModel):
    """Why submitted work is rejected (shown to the citizen who sent it in)."""

    reason: str = Field(default="", max_length=1000)


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
    rejected task) only for staff and the citizen who claimed it, as `claimed_by`."""

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


class HealthPublic(HealthReport):
    """`GET /health`: the report plus the answering process's `instance` id."""

    instance: str
