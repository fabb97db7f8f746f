"""Passwords (argon2 via pwdlib), session tokens, and custodial keys under AES-GCM.

A custodial key is encrypted with the key-encryption key (KEK) from settings; the account address
is the associated data, so a ciphertext cannot be moved to another account. Keys are never
logged or returned.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_account import Account
from eth_account.signers.local import LocalAccount
from pwdlib import PasswordHash

SESSION_COOKIE = "heitje_session"
"""Name of the HttpOnly session cookie."""

_hasher = PasswordHash.recommended()


def hash_password(password: str) -> str:
    """argon2id hash of `password` (pwdlib's recommended parameters)."""
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    """True when `password` matches `hashed`."""
    try:
        return bool(_hasher.verify(password, hashed))
    except Exception:
        return False


# A fixed hash to verify against when the user does not exist (equal timing).
DUMMY_HASH = hash_password("not-a-real-password")


def new_session_token() -> str:
    """A random bearer token (32 bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """sha256 hex of a session token: only the hash is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token of a cookie session, for forms (HMAC of the session token)."""
    return hmac.new(session_token.encode(), b"heitje-csrf", hashlib.sha256).hexdigest()[:32]


def seal_custodial_key(kek: bytes, key: bytes, address: str) -> tuple[bytes, bytes]:
    """Seal the 32-byte private key `key` of `address` under `kek`: (12-byte random nonce,
    AES-GCM ciphertext with the address as associated data; 48 bytes)."""
    nonce = os.urandom(12)
    return nonce, AESGCM(kek).encrypt(nonce, key, address.encode())


def new_custodial_key(kek: bytes) -> tuple[str, bytes, bytes]:
    """Make a new key: (checksum address, 12-byte nonce, AES-GCM ciphertext of the 32-byte key)."""
    acct: LocalAccount = Account.create()
    nonce, ct = seal_custodial_key(kek, bytes(acct.key), acct.address)
    return acct.address, nonce, ct


def open_custodial_key(kek: bytes, address: str, nonce: bytes, ciphertext: bytes) -> LocalAccount:
    """Decrypt a custodial key; raises `cryptography.exceptions.InvalidTag` when tampered."""
    raw = AESGCM(kek).decrypt(nonce, ciphertext, address.encode())
    acct: LocalAccount = Account.from_key(raw)
    if acct.address != address:
        raise ValueError("custodial key does not match its address")
    return acct


def session_cookie(token: str, ttl: int, *, secure: bool) -> dict[str, Any]:
    """Keyword arguments for a face's `set_cookie`: the HttpOnly, SameSite=Lax session cookie
    named SESSION_COOKIE holding `token` for `ttl` seconds (Secure unless `secure` is False)."""
    return {
        "key": SESSION_COOKIE,
        "value": token,
        "max_age": ttl,
        "httponly": True,
        "secure": secure,
        "samesite": "lax",
    }
