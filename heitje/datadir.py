"""Every path of a data directory, once.

A deployment lives in one directory (docs/architecture.md):

```
DIR/
  chain/              the embedded anvil chain's state (chain.json, state dump, anvil.log)
  keys/<role>.key     service keys (admin, minter, registrar, pauser, relayer, settler), 0600
  keys/kek.key        the key-encryption key of custodial keys (base64 of 32 bytes), 0600
  deployment.json     the deployment manifest (token address, block, compiler settings)
  service.sqlite      the service database (owner: `store`)
  mirror.sqlite       the SQL mirror of the chain (owner: `indexer`)
  nonces.sqlite       the transaction journal of every service key (owner: `node.signer`)
  dispatcher.lock     held by the one running outbox dispatcher
  settlements/        pain.001 files and CSV summaries (owner: `domain.settlement`)
  proofs/             task proof photos, re-encoded, no metadata (owner: `domain.proofs`)
  logs/               logs of child processes started by `scripts.stack`
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataDir:
    """The paths of one data directory `root`; nothing is created until asked."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def chain(self) -> Path:
        """The embedded chain's state directory."""
        return self.root / "chain"

    @property
    def keys(self) -> Path:
        """Service keys and the key-encryption key."""
        return self.root / "keys"

    def key(self, role: str) -> Path:
        """The key file of service role `role` (e.g. `minter`)."""
        return self.keys / f"{role}.key"

    @property
    def kek(self) -> Path:
        """The default key-encryption key file."""
        return self.keys / "kek.key"

    @property
    def manifest(self) -> Path:
        """`deployment.json`."""
        return self.root / "deployment.json"

    @property
    def service_db(self) -> Path:
        """`service.sqlite`, the service database."""
        return self.root / "service.sqlite"

    @property
    def mirror_db(self) -> Path:
        """`mirror.sqlite`, the indexer's SQL mirror of the chain."""
        return self.root / "mirror.sqlite"

    @property
    def nonce_journal(self) -> Path:
        """`nonces.sqlite`, the transaction journal."""
        return self.root / "nonces.sqlite"

    @property
    def dispatcher_lock(self) -> Path:
        """The lock file of the outbox dispatcher."""
        return self.root / "dispatcher.lock"

    @property
    def settlements(self) -> Path:
        """Payment files (pain.001) and CSV summaries."""
        return self.root / "settlements"

    @property
    def bank(self) -> Path:
        """Bank files finance read in (camt.053, pain.002), as received, named by their SHA-256
        (`bank/<sha256>.xml`; owner: `domain.settlement.bank`)."""
        return self.root / "bank"

    @property
    def proofs(self) -> Path:
        """Proof photos of tasks (`proofs/<task id>/<n>.jpg`, re-encoded JPEG without
        metadata; owner: `domain.proofs`)."""
        return self.root / "proofs"

    @property
    def logs(self) -> Path:
        """Logs of child processes."""
        return self.root / "logs"
