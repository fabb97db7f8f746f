"""Settings of the services: the one place environment variables are read (prefix HEITJE_)."""

from __future__ import annotations

import base64
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from heitje.datadir import DataDir
from heitje.errors import ConfigError
from heitje.money import parse_heit, parse_rate

# Keys that appear in docs and examples: the service refuses to run with them.
KNOWN_DEFAULT_KEKS = {base64.b64encode(b"\x00" * 32).decode(), "changeme", "CHANGE-ME"}


class Settings(BaseSettings):
    """Service settings. Paths default to the data dir layout of docs/architecture.md.

    `kek` (base64 of 32 bytes) or `kek_file` holds the key-encryption key for custodial keys;
    the service refuses to start without one, or with a known example value.
    """

    model_config = SettingsConfigDict(env_prefix="HEITJE_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("data"))
    rpc_url: str = "http://127.0.0.1:8545"
    kek: SecretStr | None = None
    kek_file: Path | None = None
    annual_reward_cap: str = "1500.00"
    eur_per_heitje: str = "1.00"
    municipality_name: str = "Gemeente"
    theme_dir: Path | None = None
    """A folder with the municipality's `theme.css` and `logo.svg` for the pages
    (`HEITJE_THEME_DIR`); a file it lacks comes from the default theme (README)."""
    municipality_iban: str = ""
    municipality_bic: str = ""
    rehearsal: bool = False
    dispatcher: bool = True
    intent_retry_max: float = Field(default=300.0, gt=0)
    """Longest wait (seconds) before the dispatcher tries a `blocked` outbox intent again: each
    failure doubles the wait from 1 s up to this (`HEITJE_INTENT_RETRY_MAX`)."""
    cookie_secure: bool = True
    session_hours: int = 12
    receipt_timeout: float = 60.0
    instance_id: str = ""
    bootstrap_admin_username: str = "admin"
    bootstrap_admin_password: SecretStr | None = None
    # Health (`GET /health`, `heitje status`) and reads of one's own writes.
    # The indexer's confirmation depth (`heitje indexer run --confirmations`): the service cannot
    # see the indexer's flag, so give it the same number; the mirror is expected `confirmations`
    # blocks behind the head, and only blocks past that count as indexer lag.
    confirmations: int = Field(default=0, ge=0)
    # Seconds a service transaction may stay unmined before its nonce is cancelled (it then
    # ends `expired` and its intent or payment is sent again); 0: never.
    tx_expire_after: float = Field(default=600.0, ge=0)
    max_indexer_lag_blocks: int = Field(default=10, ge=0)
    max_backlog_age: float = Field(default=300.0, ge=0)  # seconds an outbox intent may stay open
    min_key_balance_wei: int = Field(default=10**16, ge=0)  # native coin each service key keeps
    read_wait: float = Field(default=5.0, ge=0)  # seconds a read waits for `min_block`

    @property
    def paths(self) -> DataDir:
        """Every path of the data directory."""
        return DataDir(self.data_dir)

    @property
    def service_db(self) -> Path:
        return self.paths.service_db

    @property
    def mirror_db(self) -> Path:
        return self.paths.mirror_db

    @property
    def keys_dir(self) -> Path:
        return self.paths.keys

    @property
    def manifest_path(self) -> Path:
        return self.paths.manifest

    @property
    def nonce_journal(self) -> Path:
        return self.paths.nonce_journal

    def cap_units(self) -> int:
        """The yearly reward cap per citizen in base units."""
        return int(parse_heit(self.annual_reward_cap))

    def key_encryption_key(self) -> bytes:
        """The 32-byte KEK. Raises `ConfigError` (`missing_kek`, `unsafe_kek`)."""
        if self.kek is not None:
            text = self.kek.get_secret_value().strip()
        else:
            path = self.kek_file or self.paths.kek
            try:
                text = path.read_text().strip()
            except FileNotFoundError:
                raise ConfigError(
                    f"no key-encryption key: set HEITJE_KEK or create {path} "
                    "(`heitje deploy` writes one)",
                    code="missing_kek",
                ) from None
        if text in KNOWN_DEFAULT_KEKS:
            raise ConfigError(
                "refusing to start with an example key-encryption key", code="unsafe_kek"
            )
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ConfigError("the key-encryption key must be base64 of 32 bytes", code="bad_kek")
        return raw

    def check(self) -> None:
        """Validate money settings and the KEK at start-up."""
        parse_heit(self.annual_reward_cap)
        parse_rate(self.eur_per_heitje)
        self.key_encryption_key()
