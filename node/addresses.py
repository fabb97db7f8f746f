"""Ethereum addresses as hex strings, without web3 or eth-account (fast to import: what
`heitje status` needs to name the service keys).

- `keccak256(data)`: Keccak-256 as Ethereum uses it (the original padding, not SHA3-256), in
  plain Python: about 0.2 ms a block, for a few addresses, not for bulk work (which uses
  eth-utils).
- `checksum(address)`: EIP-55 mixed case.
- `address_of_key(private_key)`: the address of a secp256k1 private key (32 bytes), the last
  20 bytes of the Keccak-256 of its public key (plain Python too: importing a curve library
  costs more than the six keys of a health check).
"""

from __future__ import annotations

import functools

ZERO_ADDRESS = "0x" + "00" * 20
"""The zero address (its EIP-55 form has no letters)."""

_MASK = (1 << 64) - 1
_RATE = 136  # bytes: 1600 - 2 * 256 bits of capacity
_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip
# rho and pi together: lane i = x + 5 y, rotated by _ROTATIONS[i], goes to lane _PI[i], which is
# (y, 2x + 3y) (FIPS 202, 3.2.2-3.2.3)
_ROTATIONS = (
    0, 1, 62, 28, 27,
    36, 44, 6, 55, 20,
    3, 10, 43, 25, 39,
    41, 45, 15, 21, 8,
    18, 2, 61, 56, 14,
)  # fmt: skip
_STEPS = tuple(
    (i, y + 5 * ((2 * x + 3 * y) % 5), _ROTATIONS[i], x)
    for y in range(5)
    for x in range(5)
    for i in (x + 5 * y,)
)


def _permute(a: list[int]) -> None:
    """Keccak-f[1600] on 25 lanes (index x + 5 y), in place."""
    mask = _MASK
    b = [0] * 25
    for rc in _ROUND_CONSTANTS:
        # theta
        c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20]
        c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21]
        c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22]
        c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23]
        c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24]
        d = (
            c4 ^ (((c1 << 1) | (c1 >> 63)) & mask),
            c0 ^ (((c2 << 1) | (c2 >> 63)) & mask),
            c1 ^ (((c3 << 1) | (c3 >> 63)) & mask),
            c2 ^ (((c4 << 1) | (c4 >> 63)) & mask),
            c3 ^ (((c0 << 1) | (c0 >> 63)) & mask),
        )
        # rho, pi
        for i, to, r, x in _STEPS:
            v = a[i] ^ d[x]
            b[to] = ((v << r) | (v >> (64 - r))) & mask if r else v
        # chi, iota
        for y in (0, 5, 10, 15, 20):
            b0, b1, b2, b3, b4 = b[y : y + 5]
            a[y] = b0 ^ (~b1 & b2)
            a[y + 1] = b1 ^ (~b2 & b3)
            a[y + 2] = b2 ^ (~b3 & b4)
            a[y + 3] = b3 ^ (~b4 & b0)
            a[y + 4] = b4 ^ (~b0 & b1)
        a[0] ^= rc


def keccak256(data: bytes) -> bytes:
    """Keccak-256 of `data` (32 bytes), as Ethereum's `keccak`."""
    padded = bytearray(data)
    padded.append(0x01)
    padded.extend(b"\x00" * (-len(padded) % _RATE))
    padded[-1] |= 0x80
    state = [0] * 25
    for start in range(0, len(padded), _RATE):
        block = padded[start : start + _RATE]
        for i in range(_RATE // 8):
            state[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _permute(state)
    return b"".join(lane.to_bytes(8, "little") for lane in state[:4])


def checksum(address: str) -> str:
    """The EIP-55 form of a 0x-prefixed 40-hex-digit address (any case).

    Raises `ValueError` when `address` is not one."""
    digits = address.removeprefix("0x").removeprefix("0X").lower()
    if len(digits) != 40 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"{address!r} is not an Ethereum address")
    hashed = keccak256(digits.encode()).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(h, 16) >= 8 else c
        for c, h in zip(digits, hashed[:40], strict=True)
    )


# secp256k1 (SEC 2, 2.4.1): y^2 = x^3 + 7 over the field of _P, generator (_GX, _GY) of order _N
_P = 2**256 - 2**32 - 977
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
_GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8


def _double(x: int, y: int, z: int) -> tuple[int, int, int]:
    """2 * (x, y, z) in Jacobian coordinates (z = 0: the point at infinity)."""
    if not z:
        return 0, 1, 0
    ysq = y * y % _P
    s = 4 * x * ysq % _P
    m = 3 * x * x % _P
    nx = (m * m - 2 * s) % _P
    return nx, (m * (s - nx) - 8 * ysq * ysq) % _P, 2 * y * z % _P


def _add_g(x: int, y: int, z: int) -> tuple[int, int, int]:
    """(x, y, z) + G, Jacobian plus affine."""
    if not z:
        return _GX, _GY, 1
    zz = z * z % _P
    u = _GX * zz % _P
    s = _GY * z * zz % _P
    if u == x:
        return _double(x, y, z) if s == y else (0, 1, 0)
    h = (u - x) % _P
    r = (s - y) % _P
    hh = h * h % _P
    hhh = h * hh % _P
    v = x * hh % _P
    nx = (r * r - hhh - 2 * v) % _P
    return nx, (r * (v - nx) - y * hhh) % _P, z * h % _P


@functools.lru_cache(maxsize=64)
def address_of_key(private_key: bytes) -> str:
    """The checksummed address of a secp256k1 private key of 32 bytes (big-endian): the last
    20 bytes of the Keccak-256 of its public key k * G (about 1 ms; remembered, so a service
    that asks every health check works it out once per key).

    Raises `ValueError` for a key that is not 32 bytes or not in 1 .. n - 1."""
    if len(private_key) != 32:
        raise ValueError(f"a private key is 32 bytes, not {len(private_key)}")
    k = int.from_bytes(private_key, "big")
    if not 0 < k < _N:
        raise ValueError("a private key is a number from 1 to the curve order - 1")
    x, y, z = 0, 1, 0
    for bit in bin(k)[2:]:
        x, y, z = _double(x, y, z)
        if bit == "1":
            x, y, z = _add_g(x, y, z)
    zi = pow(z, -1, _P)
    zi2 = zi * zi % _P
    public = (x * zi2 % _P).to_bytes(32, "big") + (y * zi2 * zi % _P).to_bytes(32, "big")
    return checksum("0x" + keccak256(public)[-20:].hex())
