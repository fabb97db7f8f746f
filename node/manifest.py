"""The deployment manifest (`DIR/deployment.json`): where the token lives and how it was built."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from heitje.errors import ConfigError


@dataclass(frozen=True)
class Manifest:
    """chain_id; token address; deploy block and tx; sha256 of the forge artifact; compiler
    version and EVM version; role holders (admin, minter, registrar, pauser, relayer, settler);
    `build`: the compiler settings (`heitje verify` rebuilds with them)."""

    chain_id: int
    token: ChecksumAddress
    deploy_block: int
    deploy_tx: str
    artifact_sha256: str
    compiler: str
    evm_version: str
    roles: dict[str, ChecksumAddress]
    build: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Write as JSON (indent 1)."""
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest; raises `ConfigError` (code `no_deployment`) when missing,
        `invalid_deployment` when it is not a manifest."""
        if not path.exists():
            raise ConfigError(
                f"no deployment manifest at {path}: run `heitje deploy`", code="no_deployment"
            )
        try:
            data = json.loads(path.read_text())
            return cls(
                chain_id=int(data["chain_id"]),
                token=Web3.to_checksum_address(data["token"]),
                deploy_block=int(data["deploy_block"]),
                deploy_tx=str(data["deploy_tx"]),
                artifact_sha256=str(data["artifact_sha256"]),
                compiler=str(data["compiler"]),
                evm_version=str(data["evm_version"]),
                roles={k: Web3.to_checksum_address(v) for k, v in data["roles"].items()},
                build=dict(data.get("build", {})),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ConfigError(
                f"{path} is not a deployment manifest: {type(e).__name__}: {e}",
                code="invalid_deployment",
            ) from None
