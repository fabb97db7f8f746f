"""A local stack, started once the same way for the demo, the tests and the benchmarks: a chain
(the embedded anvil, or an external node such as the Clique network), the token deployed with
each role on its own key, a reward period, the indexer and the API as child processes with
their logs in the data dir (`DataDir.logs`).

`HEITJE_COMMAND` is how the `heitje` command line is started as a child (`python -m scripts.cli`).
"""

from __future__ import annotations

import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from web3 import Web3

from heitje.datadir import DataDir
from heitje.errors import ConfigError
from heitje.secretfiles import require_private
from node.anvil import Anvil
from node.keys import SERVICE_ROLES, load_key, write_key
from node.manifest import Manifest
from node.token import Token, connect
from scripts.children import Child as Child
from scripts.children import HeldApi, hold_api, spawn_api
from scripts.children import ServiceStartError as ServiceStartError
from scripts.deploy import deploy, ensure_dev_keys, ensure_kek, open_reward_period

HEITJE_COMMAND = [sys.executable, "-m", "scripts.cli"]
"""argv prefix that runs the `heitje` command line in a child process."""


def wait_api(child: Child, instance: str, port: int, timeout: float = 60.0) -> Child:
    """Wait until the API `child` answers /health/live on `port` with its own `instance` id
    (not another service that holds the port), polling every 50 ms over one connection pool;
    stops it and raises `ServiceStartError` when it exits or does not answer in `timeout` s."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as http:
        while time.monotonic() < deadline:
            if not child.alive():
                raise ServiceStartError(f"the API exited; see {child.log_path}")
            try:
                r = http.get(f"http://127.0.0.1:{port}/health/live")
                if r.status_code == 200 and r.json().get("instance") == instance:
                    return child
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    child.stop()
    raise ServiceStartError(f"the API did not answer within {timeout}s; see {child.log_path}")


def start_api(
    data_dir: Path, rpc_url: str, port: int, env: dict[str, str], timeout: float = 60.0
) -> Child:
    """Start `uvicorn api.app:create_app --factory` on 127.0.0.1:`port`; wait until /health
    answers with this child's own instance id (not another service that holds the port)."""
    child, instance = spawn_api(data_dir, rpc_url, port, env)
    return wait_api(child, instance, port, timeout)


def start_indexer(
    data_dir: Path,
    rpc_url: str,
    *,
    confirmations: int = 0,
    poll: float = 0.1,
    wait_for_chain: float = 60.0,
) -> Child:
    """Start `heitje indexer run` for `data_dir`; it waits up to `wait_for_chain` seconds for a
    node that is not reachable at start (a restarting validator)."""
    return Child(
        "indexer",
        [
            *HEITJE_COMMAND,
            "indexer",
            "run",
            "--data-dir",
            str(data_dir),
            "--rpc-url",
            rpc_url,
            "--confirmations",
            str(confirmations),
            "--poll",
            str(poll),
            "--wait-for-chain",
            str(wait_for_chain),
        ],
        {},
        DataDir(data_dir).logs,
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _require_keys(keys_dir: Path) -> None:
    """Raise `ConfigError` (`missing_key`) naming the service key files `keys_dir` lacks."""
    missing = [r for r in SERVICE_ROLES if not (keys_dir / f"{r}.key").is_file()]
    if missing:
        names = ", ".join(f"{r}.key" for r in missing)
        raise ConfigError(
            f"{keys_dir} lacks {names}: give the keys of the chain's service accounts with "
            "--keys-dir (`heitje network init` writes them to DIR/keys)",
            code="missing_key",
        )


def copy_service_keys(keys_dir: Path, data_dir: Path) -> None:
    """Copy the service keys (`<role>.key` for every role in SERVICE_ROLES) from `keys_dir` to
    `data_dir/keys`, mode 0600. Raises `ConfigError`: `missing_key` naming the missing files,
    `key_file_exposed` naming a source file group or others may read (and `chmod 600`)."""
    _require_keys(keys_dir)
    for role in SERVICE_ROLES:
        source = keys_dir / f"{role}.key"
        require_private(source)
        write_key(DataDir(data_dir).key(role), source.read_text().strip())


def check_funded(w3: Web3, keys_dir: Path) -> None:
    """Every service account in `keys_dir` holds native coin on `w3`'s chain (the network's
    genesis funds them); raises `ConfigError` (`missing_key`, `keys_not_funded`)."""
    _require_keys(keys_dir)
    empty = [
        role
        for role in SERVICE_ROLES
        if int(w3.eth.get_balance(load_key(keys_dir / f"{role}.key").address)) == 0
    ]
    if empty:
        raise ConfigError(
            f"the service accounts {', '.join(empty)} hold no coin on chain "
            f"{int(w3.eth.chain_id)}: these keys do not belong to this chain (--keys-dir)",
            code="keys_not_funded",
        )


@dataclass
class Stack:
    """A deployed chain with the indexer and the API running for `data_dir`.

    `chain` is the embedded anvil when the stack started one (None on an external node).
    `stop()` (or leaving a `with` block) stops API, indexer and chain, in that order.
    """

    data_dir: Path
    rpc_url: str
    manifest: Manifest
    token: Token
    api_url: str
    admin_password: str
    api: Child
    indexer: Child
    env: dict[str, str]
    chain: Anvil | None = None
    confirmations: int = 0
    _stopped: bool = field(default=False, repr=False)

    @property
    def paths(self) -> DataDir:
        """Every path of the stack's data directory."""
        return DataDir(self.data_dir)

    def client(self) -> httpx.Client:
        """A plain httpx client of the API."""
        return httpx.Client(base_url=self.api_url, timeout=60)

    def restart_api(self, **env: str) -> None:
        """Stop (or after a crash, reap) the API and start it again on the same port."""
        self.api.stop()
        port = int(self.api_url.rsplit(":", 1)[1])
        self.api = start_api(self.data_dir, self.rpc_url, port, {**self.env, **env})

    def stop(self) -> None:
        """Stop API, indexer and the embedded chain (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.api.terminate()  # both shut down at once; the API first (it may still write)
        self.indexer.terminate()
        self.api.stop()
        self.indexer.stop()
        if self.chain is not None:
            self.chain.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_stack(
    data_dir: Path,
    *,
    rpc_url: str | None = None,
    keys_dir: Path | None = None,
    confirmations: int = 0,
    poll: float = 0.05,
    budget: int = 10**12,
    cap_per_citizen: int = 10**10,
    env: dict[str, str] | None = None,
    api: HeldApi | None = None,
) -> Stack:
    """Start a stack in `data_dir` and return it once the API answers.

    Without `rpc_url` an embedded anvil chain is started in `data_dir` with dev keys; with it,
    `keys_dir` must hold that chain's funded service keys (copied into `data_dir/keys`).
    The token is deployed, one reward period opened (`budget` and `cap_per_citizen` in base
    units), the indexer started `confirmations` blocks behind the head polling every `poll`
    seconds, and the API started with rehearsal mode, plain-HTTP cookies and a bootstrap admin
    (random password in `Stack.admin_password`) plus `env` (HEITJE_* settings). The API's
    process starts first and imports the app while the chain starts and the token is deployed
    (`scripts.children.hold_api`; `api`: one the caller started earlier for `data_dir`); it
    reads its settings and the deployment only after that.
    Raises `ConfigError` (`missing_key`, `keys_not_funded`, `invalid_input`), `ChainError`,
    `ServiceStartError`; whatever it started is stopped again when it fails.
    """
    if rpc_url is not None and keys_dir is None:
        raise ConfigError(
            "--rpc-url needs the chain's service keys (--keys-dir)", code="missing_key"
        )
    if rpc_url is None and keys_dir is not None:
        raise ConfigError(
            "--keys-dir needs --rpc-url (the embedded chain uses its own dev keys)",
            code="invalid_input",
        )
    chain: Anvil | None = None
    # The API imports itself while the chain starts and the token is deployed.
    api = hold_api(data_dir) if api is None else api
    children: list[Child] = [api.child]
    try:
        if rpc_url is None:
            chain = Anvil(data_dir)
            rpc_url = chain.rpc_url
        else:
            assert keys_dir is not None
            check_funded(connect(rpc_url), keys_dir)  # before anything lands in data_dir
        admin_password = secrets.token_urlsafe(16)
        full_env = {
            "HEITJE_REHEARSAL": "true",
            "HEITJE_COOKIE_SECURE": "false",
            "HEITJE_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
            "HEITJE_CONFIRMATIONS": str(confirmations),
            **(env or {}),
        }
        if chain is not None:
            chain.start()
            ensure_dev_keys(data_dir)
        else:
            assert keys_dir is not None
            copy_service_keys(keys_dir, data_dir)
        ensure_kek(data_dir)
        w3 = connect(rpc_url)
        manifest = deploy(w3, data_dir)
        open_reward_period(w3, data_dir, budget=budget, cap_per_citizen=cap_per_citizen)
        api.child.release({"HEITJE_RPC_URL": rpc_url, **full_env})
        indexer = start_indexer(data_dir, rpc_url, confirmations=confirmations, poll=poll)
        children.append(indexer)
        wait_api(api.child, api.instance, api.port)
    except BaseException:
        for child in children:
            child.stop()
        if chain is not None:
            chain.stop()
        raise
    return Stack(
        data_dir,
        rpc_url,
        manifest,
        Token(w3, manifest.token),
        f"http://127.0.0.1:{api.port}",
        admin_password,
        api.child,
        indexer,
        full_env,
        chain,
        confirmations,
    )
