"""Raw JSON-RPC logs and block headers -> typed, frozen records. Pure functions, no I/O.

Input is what the node returns, unformatted: an `eth_getLogs` entry (`address`, `topics`, `data`,
`blockNumber`, `blockHash`, `transactionHash`, `logIndex`, hex strings) and an
`eth_getBlockByNumber` result (`number`, `hash`, `parentHash`, `timestamp`). Events follow the
Solidity ABI (topic 0 = keccak-256 of the event signature, indexed arguments in topics, the rest
in `data` as 32-byte words) for ERC-20 `Transfer` and the events of `IHeitjeToken`.

Output: addresses EIP-55 checksummed, hashes / bytes32 as lowercase 0x-hex, amounts `BaseUnits`.
Logs of other events of the contract (AccessControl `RoleGranted`, `Paused`, ...) decode to
`None`. A log that claims a known signature but has the wrong shape raises `DecodeError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from heitje.money import BaseUnits
from indexer.errors import DecodeError
from node.contract import AccountKind

RawLog: TypeAlias = Mapping[str, Any]
"""One entry of an `eth_getLogs` reply, as JSON."""

RawBlock: TypeAlias = Mapping[str, Any]
"""An `eth_getBlockByNumber(n, false)` result, as JSON."""

ZERO_ADDRESS: ChecksumAddress = to_checksum_address("0x" + "00" * 20)

MAX_SQL_INTEGER = 2**63 - 1
"""Amounts are stored as SQLite INTEGER (signed 64 bit); HEIT supply stays far below."""

EVENT_SIGNATURES = {
    "Transfer": "Transfer(address,address,uint256)",
    "RewardMinted": "RewardMinted(address,uint256,bytes32)",
    "Redeemed": "Redeemed(uint256,address,uint256)",
    "AccountRegistered": "AccountRegistered(address,uint8)",
    "AuthorizationUsed": "AuthorizationUsed(address,bytes32)",
    "AuthorizationCanceled": "AuthorizationCanceled(address,bytes32)",
}
"""Canonical signatures of the events the mirror keeps (enums are uint8 in the ABI)."""

TOPICS = {name: "0x" + keccak(text=sig).hex() for name, sig in EVENT_SIGNATURES.items()}
"""Topic 0 of each kept event, lowercase 0x-hex."""

KIND_NAMES = {AccountKind.NONE: "none", AccountKind.CITIZEN: "citizen", AccountKind.SHOP: "shop"}
"""Registry kind as stored in the mirror (`registrations.kind`, `accounts.kind`)."""


@dataclass(frozen=True)
class Block:
    """A block header: number, hash, parent hash (0x-hex), unix timestamp (seconds)."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int


@dataclass(frozen=True)
class Event:
    """Where a log sits on chain; (tx_hash, log_index) identifies it."""

    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class Transfer(Event):
    """ERC-20 Transfer: from zero = mint, to zero = burn (redemption)."""

    from_address: ChecksumAddress
    to_address: ChecksumAddress
    amount: BaseUnits


@dataclass(frozen=True)
class RewardMinted(Event):
    """`amount` minted to citizen `to_address` for task reference `task_ref` (bytes32 hex)."""

    to_address: ChecksumAddress
    amount: BaseUnits
    task_ref: str


@dataclass(frozen=True)
class Redeemed(Event):
    """Shop `shop` burned `amount` for euros under `redemption_id` (counts from 1)."""

    redemption_id: int
    shop: ChecksumAddress
    amount: BaseUnits


@dataclass(frozen=True)
class AccountRegistered(Event):
    """`account` was given `kind` (`AccountKind.NONE`: deregistered)."""

    account: ChecksumAddress
    kind: AccountKind


@dataclass(frozen=True)
class AuthorizationUsed(Event):
    """EIP-3009 nonce (bytes32 hex) of `authorizer` was used."""

    authorizer: ChecksumAddress
    nonce: str


@dataclass(frozen=True)
class AuthorizationCanceled(Event):
    """EIP-3009 nonce (bytes32 hex) of `authorizer` was canceled."""

    authorizer: ChecksumAddress
    nonce: str


Record: TypeAlias = (
    Transfer | RewardMinted | Redeemed | AccountRegistered | AuthorizationUsed
    | AuthorizationCanceled
)  # fmt: skip


def hex_int(value: Any, field: str = "value") -> int:
    """A JSON-RPC quantity ("0x1a") as int. Raises `DecodeError` for anything else."""
    if isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) > 2:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise DecodeError(f"{field}: {value!r} is not a hex quantity")


def _hash(value: Any, field: str) -> str:
    if isinstance(value, str) and len(value) == 66 and value[:2] in ("0x", "0X"):
        try:
            bytes.fromhex(value[2:])
        except ValueError:
            pass
        else:
            return value.lower()
    raise DecodeError(f"{field}: {value!r} is not a 32-byte hex value")


@lru_cache(maxsize=16_384)
def _address_word(topic: str) -> ChecksumAddress | None:
    # one keccak per distinct address (EIP-55), not per log; None for a word that is not an
    # ABI-encoded address. The cache is bounded: memory does not grow with the chain.
    if len(topic) != 66 or topic[:2] not in ("0x", "0X") or topic[2:26] != "0" * 24:
        return None
    try:
        bytes.fromhex(topic[26:])
    except ValueError:
        return None
    return to_checksum_address("0x" + topic[26:].lower())


def _topic_address(topic: Any, field: str) -> ChecksumAddress:
    address = _address_word(topic) if isinstance(topic, str) else None
    if address is None:
        raise DecodeError(f"{field}: {topic!r} is not an ABI-encoded address")
    return address


def _words(data: Any, count: int) -> list[int]:
    if not isinstance(data, str) or data[:2] not in ("0x", "0X"):
        raise DecodeError(f"data: {data!r} is not hex")
    body = data[2:]
    if len(body) != 64 * count:
        raise DecodeError(f"data: expected {count} words, got {len(body) / 64:g}")
    try:
        return [int(body[i : i + 64], 16) for i in range(0, len(body), 64)]
    except ValueError:
        raise DecodeError(f"data: {data!r} is not hex") from None


def _word(data: Any) -> int:
    # the common case of `_words(data, 1)`, checked as strictly
    if isinstance(data, str) and len(data) == 66 and data[:2] in ("0x", "0X"):
        try:
            return int(data[2:], 16)
        except ValueError:
            pass
    (value,) = _words(data, 1)
    return value


def _amount(value: int) -> BaseUnits:
    if value > MAX_SQL_INTEGER:
        raise DecodeError(f"amount {value} does not fit a 64-bit integer")
    return BaseUnits(value)


def _event(raw: RawLog) -> tuple[int, str, str, int]:
    if raw.get("removed"):
        raise DecodeError("log is marked removed (eth_getLogs never returns those)")
    return (
        hex_int(raw.get("blockNumber"), "blockNumber"),
        _hash(raw.get("blockHash"), "blockHash"),
        _hash(raw.get("transactionHash"), "transactionHash"),
        hex_int(raw.get("logIndex"), "logIndex"),
    )


# ----- event fields, in mirror-row form; one function per kept event -----

Fields: TypeAlias = tuple[Any, ...]


def _transfer(topics: list[Any], data: Any) -> Fields:
    # (from_address, to_address, amount)
    return (
        _topic_address(topics[1], "from"),
        _topic_address(topics[2], "to"),
        _amount(_word(data)),
    )


def _reward(topics: list[Any], data: Any) -> Fields:
    # (to_address, amount, task_ref)
    return (_topic_address(topics[1], "to"), _amount(_word(data)), _hash(topics[2], "taskRef"))


def _redeemed(topics: list[Any], data: Any) -> Fields:
    # (redemption_id, shop, amount)
    return (
        hex_int(topics[1], "redemptionId"),
        _topic_address(topics[2], "shop"),
        _amount(_word(data)),
    )


def _registered(topics: list[Any], data: Any) -> Fields:
    # (account, kind name)
    kind = _word(data)
    try:
        name = KIND_NAMES[AccountKind(kind)]
    except ValueError:
        raise DecodeError(f"AccountRegistered: unknown kind {kind}") from None
    return (_topic_address(topics[1], "account"), name)


def _authorization(state: str) -> Callable[[list[Any], Any], Fields]:
    def fields(topics: list[Any], data: Any) -> Fields:
        # (authorizer, nonce, state)
        _words(data, 0)
        return (_topic_address(topics[1], "authorizer"), _hash(topics[2], "nonce"), state)

    return fields


_KINDS: dict[str, tuple[str, int, Callable[[list[Any], Any], Fields]]] = {
    TOPICS["Transfer"]: ("transfers", 3, _transfer),
    TOPICS["RewardMinted"]: ("rewards", 3, _reward),
    TOPICS["Redeemed"]: ("redemptions", 3, _redeemed),
    TOPICS["AccountRegistered"]: ("registrations", 2, _registered),
    TOPICS["AuthorizationUsed"]: ("authorizations", 3, _authorization("used")),
    TOPICS["AuthorizationCanceled"]: ("authorizations", 3, _authorization("canceled")),
}
"""topic 0 -> (mirror table, number of topics, fields decoder)."""

ROW_TABLES = ("transfers", "rewards", "redemptions", "registrations", "authorizations")
"""The tables `decode_rows` fills (the mirror's event tables)."""


def _kind_of(raw: RawLog) -> tuple[str, list[Any], Callable[[list[Any], Any], Fields]] | None:
    topics = raw.get("topics")
    if not isinstance(topics, list) or not topics:
        return None  # anonymous events: not ours
    topic0 = topics[0]
    kind = _KINDS.get(topic0) if isinstance(topic0, str) else None
    if kind is None:
        kind = _KINDS.get(str(topic0).lower())
        if kind is None:
            return None
    table, count, fields = kind
    if len(topics) != count:
        raise DecodeError(
            f"log {raw.get('transactionHash')}:{raw.get('logIndex')}: "
            f"expected {count} topics, got {len(topics)}"
        )
    return table, topics, fields


_KIND_BY_NAME = {name: kind for kind, name in KIND_NAMES.items()}


def decode_log(raw: RawLog) -> Record | None:
    """Decode one raw log; `None` for an event the mirror does not keep.

    Raises `DecodeError` when the log is malformed or a kept event has the wrong shape.
    """
    kind = _kind_of(raw)
    if kind is None:
        return None
    table, topics, decode = kind
    f = decode(topics, raw.get("data", "0x"))
    event = _event(raw)
    if table == "transfers":
        return Transfer(*event, f[0], f[1], f[2])
    if table == "rewards":
        return RewardMinted(*event, f[0], f[1], f[2])
    if table == "redemptions":
        return Redeemed(*event, f[0], f[1], f[2])
    if table == "registrations":
        return AccountRegistered(*event, f[0], _KIND_BY_NAME[f[1]])
    if f[2] == "used":
        return AuthorizationUsed(*event, f[0], f[1])
    return AuthorizationCanceled(*event, f[0], f[1])


def decode_logs(raws: Iterable[RawLog], token: str | None = None) -> list[Record]:
    """Decode an `eth_getLogs` result, dropping events the mirror does not keep.

    With `token`, every log must come from that address (else `DecodeError`).
    """
    wanted = token.lower() if token is not None else None
    out: list[Record] = []
    for raw in raws:
        if wanted is not None and str(raw.get("address", "")).lower() != wanted:
            raise DecodeError(f"log of {raw.get('address')} in a reply for {token}")
        record = decode_log(raw)
        if record is not None:
            out.append(record)
    return out


def decode_block(raw: RawBlock) -> Block:
    """Decode an `eth_getBlockByNumber` result. Raises `DecodeError` when a field is missing."""
    return Block(
        number=hex_int(raw.get("number"), "number"),
        hash=_hash(raw.get("hash"), "hash"),
        parent_hash=_hash(raw.get("parentHash"), "parentHash"),
        timestamp=hex_int(raw.get("timestamp"), "timestamp"),
    )
