"""Ethereum addresses as hex strings, without web3 or eth-account (fast to import: what
`heitje status` needs).

Deriving an address from a key, hashing and EIP-55 are eth-account's and eth-utils' work; a
service key's address is kept beside it when the key is written (`node.keys`), so the status
command reads it instead of importing them.
"""

from __future__ import annotations

ZERO_ADDRESS = "0x" + "00" * 20
"""The zero address (its EIP-55 form has no letters)."""


def is_hex_address(text: str) -> bool:
    """`text` has the shape of an address: 0x and 40 hex digits (any case)."""
    if len(text) != 42 or not text.startswith("0x"):
        return False
    try:
        int(text[2:], 16)
    except ValueError:
        return False
    return True
