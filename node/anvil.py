"""The embedded development chain: an anvil child process (paris rules, private chain id).

State persists in `DIR/chain/state.json` (anvil `--state`: loaded on start, dumped on exit and
every few seconds). Dev-chain funding comes from a random BIP-39 mnemonic kept in
`DIR/chain/chain.json` (mode 0600, its directory 0700). The mnemonic never reaches anvil:
anvil starts with no dev accounts (`--accounts 0`) and prints no banner (`--quiet`; errors still
reach `DIR/chain/anvil.log`), so neither its command line nor its log holds a key; once it
answers, the first accounts of the mnemonic are funded with `anvil_setBalance` (only while they
hold nothing, so a restart on saved state changes no balance). No account is ever unlocked on
the node: Python signs locally (see `node.signer`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from heitje.datadir import DataDir
from heitje.errors import HeitjeError
from heitje.secretfiles import ensure_private_dir, require_private, write_private
from node.ports import free_port as free_port

DEFAULT_CHAIN_ID = 46_400
"""Private chain id of the embedded chain (not a public network's)."""

REPO_ROOT = Path(__file__).resolve().parents[1]


class ChainStartError(HeitjeError, RuntimeError):
    """anvil could not be found or did not answer in time."""

    code = "chain_start_failed"


def anvil_binary() -> str:
    """Path of the anvil binary: the project's npm copy (through `tools/anvil`, which runs the
    platform binary itself), else one on PATH.

    Raises `ChainStartError` when neither exists (run `make setup`).
    """
    local = REPO_ROOT / "tools" / "anvil"  # the platform binary, not the npm launcher
    if (REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil").exists():
        return str(local)
    found = shutil.which("anvil")
    if found is None:
        raise ChainStartError("anvil not found: run `make setup` (installs @foundry-rs/anvil)")
    return found


DEV_BALANCE_WEI = 1_000_000 * 10**18
"""Native coin of each funded dev account (one million ether)."""


def _chain_config(chain_dir: Path, chain_id: int) -> dict[str, object]:
    """`chain.json` (created with a new random mnemonic when missing). Raises `ConfigError`
    (`key_file_exposed`) when group or others may read it."""
    path = chain_dir / "chain.json"
    require_private(path)
    if path.exists():
        config: dict[str, object] = json.loads(path.read_text())
        return config
    Account.enable_unaudited_hdwallet_features()
    _, mnemonic = Account.create_with_mnemonic()
    config = {"chain_id": chain_id, "mnemonic": mnemonic, "accounts": 10}
    write_private(path, json.dumps(config, indent=1))
    return config


def _dev_account(mnemonic: str, index: int) -> LocalAccount:
    Account.enable_unaudited_hdwallet_features()
    acct: LocalAccount = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    return acct


def dev_private_key(data_dir: Path, index: int) -> str:
    """Hex private key of funded dev account `index` (BIP-44 m/44'/60'/0'/0/index of the
    mnemonic in `chain.json`). Raises `ConfigError` (`key_file_exposed`) when group or others
    may read `chain.json`."""
    path = DataDir(data_dir).chain / "chain.json"
    require_private(path)
    config = json.loads(path.read_text())
    return "0x" + bytes(_dev_account(str(config["mnemonic"]), index).key).hex()


class Anvil:
    """An anvil process bound to 127.0.0.1, with its state in `data_dir/chain`.

    Use as a context manager (`with Anvil(dir) as chain: chain.rpc_url`) or call `start()` and
    `stop()`. `stop()` asks anvil to exit with SIGINT so it dumps its state, then kills it after
    a grace period. Raises `ChainStartError` when anvil does not answer within `timeout` seconds.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        chain_id: int = DEFAULT_CHAIN_ID,
        port: int | None = None,
        block_time: float | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.chain_dir = DataDir(self.data_dir).chain
        self.chain_id = chain_id
        self.port = port or free_port()
        self.block_time = block_time
        self.timeout = timeout
        self._http: httpx.Client | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def rpc_url(self) -> str:
        """JSON-RPC endpoint, e.g. http://127.0.0.1:41234."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Start anvil, wait until it answers `eth_chainId` and fund the dev accounts; returns
        the RPC URL. Raises `ChainStartError`, or `ConfigError` (`key_file_exposed`) when group
        or others may read `chain.json`."""
        ensure_private_dir(self.chain_dir)
        config = _chain_config(self.chain_dir, self.chain_id)
        cmd = [
            anvil_binary(),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(config["chain_id"]),
            "--hardfork", "paris",
            "--accounts", "0",  # no dev accounts of anvil's own: ours are funded below
            "--quiet",  # no banner (it would list keys); errors still go to anvil.log
            "--state", str(self.chain_dir / "state.json"),
            "--state-interval", "5",
            "--preserve-historical-states",
        ]  # fmt: skip
        if self.block_time:
            cmd += ["--block-time", str(self.block_time)]
        scrub_old_banner(self.chain_dir / "anvil.log")
        log = open(self.chain_dir / "anvil.log", "ab")  # noqa: SIM115 (lives with the process)
        self.process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ChainStartError(
                    f"anvil exited with code {self.process.returncode}; "
                    f"see {self.chain_dir / 'anvil.log'}"
                )
            try:
                r = self._client().post(
                    self.rpc_url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=1.0,
                )
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            self.stop()
            raise ChainStartError(f"anvil did not answer on {self.rpc_url} within {self.timeout}s")
        try:
            self._fund(str(config["mnemonic"]), int(str(config["accounts"])))
        except (httpx.HTTPError, ValueError, ChainStartError) as e:
            self.stop()
            raise ChainStartError(f"could not fund the dev accounts on {self.rpc_url}: {e}") from e
        finally:
            if self._http is not None:
                self._http.close()
                self._http = None
        return self.rpc_url

    def _client(self) -> httpx.Client:
        """One HTTP client while starting (httpx.post makes a client, and an SSL context, per
        call: about 45 ms each, twenty calls at a start)."""
        if self._http is None:
            self._http = httpx.Client(timeout=10.0)
        return self._http

    def _rpc(self, method: str, params: list[object]) -> object:
        r = self._client().post(
            self.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            timeout=10.0,
        )
        body = r.json()
        if "error" in body:
            raise ChainStartError(f"anvil refused {method}: {body['error'].get('message')}")
        return body.get("result")

    def _fund(self, mnemonic: str, accounts: int) -> None:
        """Give dev accounts 0..`accounts`-1 DEV_BALANCE_WEI where they hold nothing."""
        for index in range(accounts):
            address = _dev_account(mnemonic, index).address
            if int(str(self._rpc("eth_getBalance", [address, "latest"])), 16) == 0:
                self._rpc("anvil_setBalance", [address, hex(DEV_BALANCE_WEI)])

    def stop(self, grace: float = 10.0) -> None:
        """Stop anvil (SIGINT: it dumps its state), killing it after `grace` seconds."""
        if self._http is not None:
            self._http.close()
            self._http = None
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> Anvil:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


BANNER_MARKS = (b"Private Keys", b"Mnemonic:")
"""What anvil's start-up banner (before `--quiet`) printed next to its keys."""


def scrub_old_banner(path: Path) -> bool:
    """Delete `path` (an anvil.log) when an anvil from before `--quiet` wrote its banner, with
    every dev key and the mnemonic, into it; True when it did. The keys it showed are the
    dev keys of that data directory: on a chain that holds real value, rotate them
    (docs/operations.md)."""
    if not path.exists():
        return False
    with path.open("rb") as f:
        head = f.read(1 << 20)
    if not any(mark in head for mark in BANNER_MARKS):
        return False
    path.unlink()
    logging.getLogger("heitje.anvil").warning(
        "%s held anvil's old start-up banner with the dev keys: deleted", path
    )
    return True
