"""One exception root for Heitje; every error carries a stable machine `code`.

Subclasses also inherit the matching builtin (as web3.py does), so callers may catch
`ValueError` or `PermissionError` without knowing Heitje.
"""

from __future__ import annotations


class HeitjeError(Exception):
    """Root of every Heitje error. `code` is a stable snake_case word; `str(e)` a human message."""

    code: str = "heitje_error"
    http_status: int = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InvalidAmount(HeitjeError, ValueError):
    """An amount is not a positive decimal with at most two decimals."""

    code = "invalid_amount"
    http_status = 422


class InvalidInput(HeitjeError, ValueError):
    """Input that is malformed (bad IBAN, bad address, bad time)."""

    code = "invalid_input"
    http_status = 422


class NotFound(HeitjeError, LookupError):
    """The thing asked for does not exist."""

    code = "not_found"
    http_status = 404


class Forbidden(HeitjeError, PermissionError):
    """The caller may not do this."""

    code = "forbidden"
    http_status = 403


class Conflict(HeitjeError):
    """The request conflicts with the current state (task not open, already registered)."""

    code = "conflict"
    http_status = 409


class ChainError(HeitjeError):
    """The chain refused or failed a transaction; `code` names the contract's reason."""

    code = "chain_error"
    http_status = 422


class ConfigError(HeitjeError):
    """Settings are missing or unsafe."""

    code = "config_error"


class Refused(HeitjeError):
    """A refusal with an explicit HTTP status (the faces answer it as `{code, message}`)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.http_status = status


class Throttled(Refused):
    """429: too many attempts; try again after `retry_after` whole seconds (the faces send it
    as the `Retry-After` header, RFC 9110 section 10.2.3)."""

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(429, code, message)
        self.retry_after = max(1, int(retry_after))
