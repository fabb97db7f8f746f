"""Settings of the services: the one place environment variables are read (prefix HEITJE_)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from heitje.datadir import DataDir
from heitje.errors import ConfigError
from heitje.money import parse_heit, parse_rate
from heitje.secretfiles import require_private

# Keys that appear in docs and examples: the service refuses to run with them.
KNOWN_DEFAULT_KEKS = {base64.b64encode(b"\x00" * 32).decode(), "changeme", "CHANGE-ME"}


def parse_kek(text: str) -> bytes:
    """The 32-byte key-encryption key from its text form (base64 of 32 bytes).

    Raises `ConfigError`: `unsafe_kek` (an example value from docs), `bad_kek` (not base64 of
    32 bytes)."""
    text = text.strip()
    if text in KNOWN_DEFAULT_KEKS:
        raise ConfigError("refusing to start with an example key-encryption key", code="unsafe_kek")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError("the key-encryption key must be base64 of 32 bytes", code="bad_kek")
    return raw


def read_kek_file(path: Path) -> bytes:
    """The key-encryption key in file `path` (mode 0600: `heitje.secretfiles`).

    Raises `ConfigError`: `missing_kek`, `key_file_exposed`, `unsafe_kek`, `bad_kek`."""
    require_private(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"no key-encryption key: set HEITJE_KEK or create {path} (`heitje deploy` writes one)",
            code="missing_kek",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: the key-encryption key must be base64 of 32 bytes", code="bad_kek"
        ) from None
    return parse_kek(text)


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
    municipality_street: str = ""
    municipality_house_number: str = ""
    municipality_postcode: str = ""
    municipality_town: str = ""
    municipality_country: str = "NL"
    """The municipality's structured postal address (`HEITJE_MUNICIPALITY_STREET`, ...), the
    debtor's address in pain.001 files; without a town the files carry none."""
    sepa_pain_version: Literal["09", "03"] = "09"
    """The pain.001 version the municipality's bank takes (`HEITJE_SEPA_PAIN_VERSION`):
    "09" (pain.001.001.09, ISO 20022 2019, structured addresses; the default) or "03"
    (pain.001.001.03, for a bank that still needs it)."""
    rehearsal: bool = False
    dispatcher: bool = True
    intent_retry_max: float = Field(default=300.0, gt=0)
    """Longest wait (seconds) before the dispatcher tries a `blocked` outbox intent again: each
    failure doubles the wait from 1 s up to this (`HEITJE_INTENT_RETRY_MAX`)."""
    cookie_secure: bool = True
    session_hours: int = 12
    # Log-in throttling (OWASP ASVS 2.2.1): after `login_free_failures` failed log-ins of one
    # account (username, any case) or `login_client_free_failures` from one client address,
    # each further failure locks that account or client for a wait that doubles from
    # `login_lockout_base` seconds up to `login_lockout_max`; attempts while locked get 429
    # `login_throttled` with Retry-After. A counter is forgotten `login_failure_memory` seconds
    # after its last failure; a successful log-in clears the account's counter.
    login_free_failures: int = Field(default=5, ge=1)
    login_client_free_failures: int = Field(default=20, ge=1)
    login_lockout_base: float = Field(default=1.0, gt=0)
    login_lockout_max: float = Field(default=900.0, gt=0)
    login_failure_memory: float = Field(default=3600.0, gt=0)
    staff_second_factor: bool = True
    """Staff accounts (admin, coordinator, finance, auditor) need a second factor after their
    password: a TOTP code (RFC 6238) or a one-time recovery code (`HEITJE_STAFF_SECOND_FACTOR`;
    the BIO asks it of staff with privileged access). Citizens and shops are not affected."""
    public_origin: str = ""
    """The service's own origin as browsers see it (`https://heitje.example.nl`): unsafe
    requests on a cookie session must come from it (CSRF, `Origin`/`Referer`). Empty: the
    origin whose host and port are the request's `Host` header."""
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

    # Hostile input (docs/api.md, "Limits").
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=2**31)
    """Largest request body in bytes (`HEITJE_MAX_BODY_BYTES`, default 1 MiB); larger ones get
    413 `body_too_large`, judged from Content-Length and while a chunked body streams in."""
    max_json_depth: int = Field(default=32, ge=2, le=256)
    """Deepest nesting of arrays/objects in a JSON body (`HEITJE_MAX_JSON_DEPTH`); deeper ones
    get 422 `json_too_deep`, counted before parsing."""

    # Insiders and sign-up abuse (docs/api.md).
    separation_of_duties: bool = True
    """A coordinator never approves or rejects a task they published or claimed
    (`HEITJE_SEPARATION_OF_DUTIES`; a scenario replay follows its `policy`)."""
    four_eyes_threshold: str = "50.00"
    """Rewards of at least this many HEIT need the approval of two different coordinators
    (`HEITJE_FOUR_EYES_THRESHOLD`; empty: none; a scenario replay follows its `policy`)."""
    # Volunteer allowance (vrijwilligersvergoeding; docs/api.md "Volunteer allowance"):
    # amounts in HEIT (= EUR at the default rate), checked on publishing and approving tasks.
    monthly_reward_cap: str = "210.00"
    """Most HEIT a citizen's approved rewards may add up to in one calendar month
    (`HEITJE_MONTHLY_REWARD_CAP`; the 2026 tax-free volunteer allowance: EUR 210 a month;
    empty: none; a scenario replay follows its `policy`)."""
    max_reward_per_hour: str = "5.90"
    """Most HEIT of reward per estimated hour of a task (`HEITJE_MAX_REWARD_PER_HOUR`; the
    2026 volunteer allowance for people of 21 and older: EUR 5.90 an hour; empty: none; a
    scenario replay follows its `policy`)."""
    signup_per_address_per_hour: int = Field(default=5, ge=1)
    """Most sign-ups (citizens and shops together) from one client address (an IPv6 client:
    its /64) in an hour; more get 429."""
    signup_per_hour: int = Field(default=200, ge=1)
    """Most sign-ups (citizens and shops together) in an hour from all clients; more get 429."""

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

    def four_eyes_units(self) -> int | None:
        """The four-eyes threshold in base units; None when there is none."""
        text = self.four_eyes_threshold.strip()
        return int(parse_heit(text)) if text else None

    def monthly_cap_units(self) -> int | None:
        """The monthly reward cap per citizen in base units; None when there is none."""
        text = self.monthly_reward_cap.strip()
        return int(parse_heit(text)) if text else None

    def max_per_hour_units(self) -> int | None:
        """The most reward per estimated hour of a task, in base units; None: no maximum."""
        text = self.max_reward_per_hour.strip()
        return int(parse_heit(text)) if text else None

    def key_encryption_key(self) -> bytes:
        """The 32-byte KEK from `kek` or the file `kek_file` (default DIR/keys/kek.key).

        Raises `ConfigError`: `missing_kek`, `unsafe_kek`, `bad_kek`, `key_file_exposed` (the
        file is readable by group or others)."""
        if self.kek is not None:
            return parse_kek(self.kek.get_secret_value())
        return read_kek_file(self.kek_file or self.paths.kek)

    def check(self) -> None:
        """Validate money settings and the KEK at start-up."""
        parse_heit(self.annual_reward_cap)
        self.four_eyes_units()
        self.monthly_cap_units()
        self.max_per_hour_units()
        parse_rate(self.eur_per_heitje)
        self.key_encryption_key()
