"""Deploy HeitjeToken, granting each role to its own key, and write the deployment manifest."""

from __future__ import annotations

from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from heitje.datadir import DataDir
from heitje.secretfiles import ensure_private_dir
from node.anvil import dev_private_key
from node.contract import load_artifact
from node.keys import SERVICE_ROLES, service_key, write_key
from node.manifest import Manifest
from node.signer import Signer


def ensure_dev_keys(data_dir: Path) -> None:
    """For the embedded chain: write `keys/<role>.key` from the dev mnemonic (prefunded accounts
    0..4) where missing. Production keys are placed there by the operator."""
    paths = DataDir(data_dir)
    for index, role in enumerate(SERVICE_ROLES):
        path = paths.key(role)
        if not path.exists():
            write_key(path, dev_private_key(data_dir, index))


ADMIN_DELAY = 2 * 24 * 3600
"""Seconds a new admin waits before accepting the role (AccessControlDefaultAdminRules)."""


def deploy(w3: Web3, data_dir: Path, *, admin_delay: int = ADMIN_DELAY) -> Manifest:
    """Deploy the token from forge's artifact with the admin key; roles go to separate keys
    (admin, minter, registrar, pauser, settler; the relayer holds none).

    Reads keys from `data_dir/keys`, journals nonces in `data_dir/nonces.sqlite`, writes and
    returns `data_dir/deployment.json`. Raises `ChainError` if the deployment reverts.
    """
    art = load_artifact()
    keys: dict[str, LocalAccount] = {
        r: service_key(DataDir(data_dir).keys, r) for r in SERVICE_ROLES
    }
    admin = Signer(w3, keys["admin"], DataDir(data_dir).nonce_journal)
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    args: list[object] = [admin_delay]
    args += [keys[r].address for r in ("admin", "minter", "registrar", "pauser", "settler")]
    tx = factory.constructor(*args).build_transaction(
        {"from": keys["admin"].address, "gas": 5_000_000, "gasPrice": 0, "nonce": 0}
    )
    receipt = admin.transact({"data": tx["data"], "gas": 5_000_000})
    address = receipt["contractAddress"]
    if address is None:
        raise RuntimeError("deployment receipt has no contract address")
    manifest = Manifest(
        chain_id=int(w3.eth.chain_id),
        token=Web3.to_checksum_address(address),
        deploy_block=int(receipt["blockNumber"]),
        deploy_tx="0x" + bytes(receipt["transactionHash"]).hex(),
        artifact_sha256=art.sha256,
        compiler=art.compiler,
        evm_version=art.evm_version,
        roles={r: keys[r].address for r in SERVICE_ROLES},
        build=art.build_settings,
    )
    manifest.save(DataDir(data_dir).manifest)
    return manifest


def new_kek_file(path: Path) -> None:
    """Write a new key-encryption key to `path`: base64 of 32 random bytes, mode 0600 (its
    directory created 0700 if missing). Raises `FileExistsError` when `path` exists."""
    import base64
    import os

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode() + "\n")


def ensure_kek(data_dir: Path) -> Path:
    """Create `data_dir/keys/kek.key` (base64 of 32 random bytes, mode 0600, in `keys/` of mode
    0700) if missing: the key-encryption key for custodial keys (AES-GCM)."""
    path = DataDir(data_dir).kek
    ensure_private_dir(path.parent)
    if not path.exists():
        new_kek_file(path)
    return path


def open_reward_period(
    w3: Web3, data_dir: Path, *, budget: int, cap_per_citizen: int, start: int = 0
) -> int:
    """Open a reward period with the admin key (base units; `start` 0 = now); returns its id.

    Raises `ChainError` (`invalid_period`, `missing_role`) when the contract refuses.
    """
    from node.token import Token

    manifest = Manifest.load(DataDir(data_dir).manifest)
    token = Token(w3, manifest.token)
    paths = DataDir(data_dir)
    admin = Signer(w3, service_key(paths.keys, "admin"), paths.nonce_journal)
    receipt = admin.transact(token.open_reward_period_tx(start, budget, cap_per_citizen))
    events = token.contract.events.RewardPeriodOpened().process_receipt(receipt, errors=DISCARD)
    return int(events[0]["args"]["periodId"])
