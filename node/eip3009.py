"""EIP-712 signatures for EIP-3009 authorizations and the token's signed redemption.

Domain: name "Heitje", version "1", the chain id and the token address (EIP-712). Types follow
EIP-3009 (`TransferWithAuthorization`, `ReceiveWithAuthorization`, `CancelAuthorization`);
`RedeemWithAuthorization(shop, amount, validAfter, validBefore, nonce)` has the same shape.
Nonces are 32 random bytes, so a retried request can never execute twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress

_AUTH_FIELDS = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]
TYPES: dict[str, list[dict[str, str]]] = {
    "TransferWithAuthorization": _AUTH_FIELDS,
    "ReceiveWithAuthorization": _AUTH_FIELDS,
    "CancelAuthorization": [
        {"name": "authorizer", "type": "address"},
        {"name": "nonce", "type": "bytes32"},
    ],
    "RedeemWithAuthorization": [
        {"name": "shop", "type": "address"},
        {"name": "amount", "type": "uint256"},
        {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
    ],
}


@dataclass(frozen=True)
class Signature:
    """An ECDSA signature split as the contract takes it."""

    v: int
    r: bytes
    s: bytes


def new_nonce() -> bytes:
    """32 random bytes for an EIP-3009 nonce."""
    return os.urandom(32)


def sign_typed(
    key: LocalAccount,
    *,
    chain_id: int,
    token: ChecksumAddress,
    primary_type: str,
    message: dict[str, Any],
) -> Signature:
    """Sign an EIP-712 message of one of `TYPES` under the Heitje domain."""
    domain = {"name": "Heitje", "version": "1", "chainId": chain_id, "verifyingContract": token}
    signable = encode_typed_data(
        domain_data=domain,
        message_types={primary_type: TYPES[primary_type]},
        message_data=message,
    )
    signed = key.sign_message(signable)
    return Signature(
        v=int(signed.v), r=int(signed.r).to_bytes(32, "big"), s=int(signed.s).to_bytes(32, "big")
    )
