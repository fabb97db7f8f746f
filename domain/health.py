"""Health of a running service: is money moving, and do reads show it? (`GET /health`,
`heitje status`).

Four checks, each with its figures and bounds (settings, README):

- chain: the node answers; its head block and that block's age (reported, not judged: an
  idle anvil mines no blocks).
- indexer: the mirror's checkpoint against the block it should have reached, head -
  `confirmations` (`HEITJE_CONFIRMATIONS`, the indexer's depth); lag in blocks (at most
  `HEITJE_MAX_INDEXER_LAG_BLOCKS`) and in block time (seconds, reported).
- dispatcher: open outbox intents (neither confirmed nor failed) and the age of the oldest (at
  most `HEITJE_MAX_BACKLOG_AGE` seconds).
- keys: each service key's native balance (at least `HEITJE_MIN_KEY_BALANCE_WEI`); a key whose
  file is not in this data dir (e.g. the admin key kept offline) is listed, not judged.

Any check out of bounds makes the report not ok, with one reason per failure.

One computation, two faces: `check` applies the rules to what it is given: the bounds
(`HealthSettings`), a `Node` (web3 in the service, `Web3Node`; `node.rpc.Rpc` in `heitje
status`, which must answer in a fraction of a second and so imports neither web3 nor
eth-account nor pydantic-settings), the mirror and the service database. The report's models
are in `domain.health_report` for the same reason.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, Field

from domain.health_report import (
    ChainHealth,
    DispatcherHealth,
    HealthReason,
    HealthReport,
    IndexerHealth,
    KeyHealth,
)
from heitje.datadir import DataDir
from heitje.errors import ConfigError
from node.keys import SERVICE_ROLES, service_key_address
from store.health import backlog

if TYPE_CHECKING:
    from web3 import Web3

    from domain.context import Context
    from heitje.settings import Settings
    from indexer.mirror import Checkpoint


# ----- what a check reads -----


class HealthSettings(BaseModel):
    """The settings a health check reads: the data dir, the node's URL and the bounds, with
    the names, types, defaults and limits of `heitje.settings.Settings` (a test holds them
    equal)."""

    data_dir: Path
    rpc_url: str
    confirmations: int = Field(default=0, ge=0)
    max_indexer_lag_blocks: int = Field(default=10, ge=0)
    max_backlog_age: float = Field(default=300.0, ge=0)
    min_key_balance_wei: int = Field(default=10**16, ge=0)

    @classmethod
    def of(cls, settings: Settings) -> HealthSettings:
        """The health settings of a service's `Settings`."""
        return cls(
            data_dir=settings.data_dir,
            rpc_url=settings.rpc_url,
            confirmations=settings.confirmations,
            max_indexer_lag_blocks=settings.max_indexer_lag_blocks,
            max_backlog_age=settings.max_backlog_age,
            min_key_balance_wei=settings.min_key_balance_wei,
        )

    @classmethod
    def from_env(
        cls, data_dir: Path, rpc_url: str, environ: Mapping[str, str] | None = None
    ) -> HealthSettings:
        """The bounds from HEITJE_* variables as `Settings` reads them (names in any case,
        values validated alike), without importing pydantic-settings (about 0.2 s); `data_dir`
        and `rpc_url` as given. Raises pydantic's `ValidationError` for a bad value (its
        `loc` names the setting as `Settings` would)."""
        env = {k.lower(): v for k, v in (os.environ if environ is None else environ).items()}
        given = {
            name: env[f"heitje_{name}"]
            for name in cls.model_fields
            if name not in ("data_dir", "rpc_url") and f"heitje_{name}" in env
        }
        return cls.model_validate({"data_dir": data_dir, "rpc_url": rpc_url, **given})

    @property
    def mirror_db(self) -> Path:
        return DataDir(self.data_dir).mirror_db

    @property
    def keys_dir(self) -> Path:
        return DataDir(self.data_dir).keys


class Node(Protocol):
    """The reads of a chain node a health check makes (any of them may raise)."""

    def block(self, number: int | None = None) -> tuple[int, int]:
        """(number, unix timestamp) of block `number`, or of the latest block (None)."""
        ...

    def chain_id(self) -> int:
        """The chain id."""
        ...

    def balance(self, address: str) -> int:
        """The native balance of `address` at the latest block, in wei."""
        ...


class MirrorView(Protocol):
    """The reads of the SQL mirror a health check makes (`indexer.mirror.Mirror`)."""

    def checkpoint(self) -> Checkpoint | None: ...

    def block_timestamp(self, block_number: int) -> int | None: ...


class Web3Node:
    """A `Node` over a web3 connection (the service's own)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def block(self, number: int | None = None) -> tuple[int, int]:
        block = self.w3.eth.get_block("latest" if number is None else number)
        return int(block["number"]), int(block["timestamp"])

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def balance(self, address: str) -> int:
        return int(self.w3.eth.get_balance(address))  # type: ignore[arg-type]


# ----- the rules -----


def local_health(settings: HealthSettings, timeout: float = 10.0) -> HealthReport:
    """The report of the service whose data dir `settings` names, asked from outside it
    (`heitje status`): the node at `settings.rpc_url` over plain JSON-RPC (`timeout` seconds a
    request; the head, chain id and key balances asked in one batch first, `Rpc.prefetch`), the
    mirror file read-only, the service database. Raises `sqlite3.Error` when the
    service database cannot be read."""
    from indexer.mirror import Mirror
    from node.rpc import Rpc
    from store.db import connect

    paths = DataDir(settings.data_dir)
    db = connect(paths.service_db)
    mirror = Mirror(paths.mirror_db) if paths.mirror_db.exists() else None
    try:
        with Rpc(settings.rpc_url, timeout=timeout) as node:
            # the head, the chain id and every key's balance in one round trip
            node.prefetch(
                [("eth_getBlockByNumber", ["latest", False]), ("eth_chainId", [])]
                + [("eth_getBalance", [a, "latest"]) for a in _key_addresses(settings)]
            )
            return check(settings, node, mirror, db)
    finally:
        if mirror is not None:
            mirror.close()
        db.close()


def _key_addresses(settings: HealthSettings) -> list[str]:
    """The addresses of the service keys kept in this data dir."""
    addresses = []
    for role in SERVICE_ROLES:
        with contextlib.suppress(ConfigError):  # no key file here: not this service's to judge
            addresses.append(service_key_address(settings.keys_dir, role))
    return addresses


def health(ctx: Context, w3: Web3 | None = None) -> HealthReport:
    """Check chain, indexer, dispatcher and service keys (module docstring) and return the
    report. `w3`: the node to ask; by default the context's chain service's (none: the chain
    counts as unreachable). Never raises for an unhealthy service: that is what it reports."""
    if w3 is None:
        chain_service = ctx.chain_source()
        w3 = chain_service.w3 if chain_service is not None else None
    return check(
        HealthSettings.of(ctx.settings),
        Web3Node(w3) if w3 is not None else None,
        ctx.mirror_source(),
        ctx.db,
    )


def check(
    settings: HealthSettings,
    node: Node | None,
    mirror: MirrorView | None,
    db: sqlite3.Connection,
) -> HealthReport:
    """The report (module docstring) from `node` (None: the chain counts as unreachable), the
    mirror (None: not made yet) and the service database `db`. Never raises for an unhealthy
    service: that is what it reports."""
    reasons: list[HealthReason] = []
    now = time.time()

    # chain
    head: int | None = None
    head_time: int | None = None
    chain = ChainHealth(ok=False, reachable=False)
    try:
        if node is None:
            raise ConnectionError("no connection to the chain")
        head, head_time = node.block()
        chain = ChainHealth(
            ok=True,
            reachable=True,
            chain_id=node.chain_id(),
            head=head,
            head_age_seconds=max(0, int(now) - head_time),
        )
    except Exception as e:  # connection errors, timeouts: a node down or half up
        reasons.append(
            HealthReason(
                code="chain_unreachable",
                message=f"the chain at {settings.rpc_url} does not answer ({type(e).__name__})",
            )
        )

    # indexer
    indexer = IndexerHealth(
        ok=None,
        confirmations=settings.confirmations,
        max_lag_blocks=settings.max_indexer_lag_blocks,
    )
    checkpoint = mirror.checkpoint() if mirror is not None else None
    if checkpoint is None:
        indexer.ok = False
        reasons.append(
            HealthReason(
                code="mirror_missing",
                message=f"the indexer has not written {settings.mirror_db} yet",
            )
        )
    else:
        indexer.checkpoint = checkpoint.block_number
        if mirror is not None and node is not None and head is not None and head_time is not None:
            target = max(0, head - settings.confirmations)
            lag = max(0, target - checkpoint.block_number)
            indexer.lag_blocks = lag
            indexer.lag_seconds = 0
            if lag > 0:
                indexer.lag_seconds = _lag_seconds(
                    node, target, head, head_time, checkpoint.block_number, mirror
                )
            indexer.ok = lag <= settings.max_indexer_lag_blocks
            if not indexer.ok:
                behind = f"{lag} blocks" + (
                    f" ({indexer.lag_seconds} s)" if indexer.lag_seconds is not None else ""
                )
                reasons.append(
                    HealthReason(
                        code="indexer_lagging",
                        message=f"the mirror is at block {checkpoint.block_number}, {behind} "
                        f"behind block {target} (head {head} - {settings.confirmations} "
                        f"confirmations); at most {settings.max_indexer_lag_blocks} allowed",
                    )
                )

    # dispatcher
    owed = backlog(db)
    oldest_age = (
        max(0, int(now - datetime.fromisoformat(owed.oldest).timestamp()))
        if owed.oldest is not None
        else None
    )
    dispatcher = DispatcherHealth(
        ok=oldest_age is None or oldest_age <= settings.max_backlog_age,
        open_intents=owed.open,
        oldest_age_seconds=oldest_age,
        max_age_seconds=settings.max_backlog_age,
    )
    if not dispatcher.ok:
        reasons.append(
            HealthReason(
                code="dispatcher_backlog",
                message=f"{owed.open} outbox intents open, the oldest for {oldest_age} s; "
                f"at most {settings.max_backlog_age:g} s allowed",
            )
        )

    # service keys
    asked = node if head is not None else None
    keys = [_key(settings, asked, role, reasons) for role in SERVICE_ROLES]

    ok = not reasons
    return HealthReport(
        ok=ok,
        status="ok" if ok else "fail",
        reasons=reasons,
        chain=chain,
        indexer=indexer,
        dispatcher=dispatcher,
        keys=keys,
    )


def _lag_seconds(
    node: Node, target: int, head: int, head_time: int, checkpoint: int, mirror: MirrorView
) -> int | None:
    """Block time between the checkpoint and the target block (None if either is unknown)."""
    try:
        target_time = head_time if target == head else node.block(target)[1]
        known = mirror.block_timestamp(checkpoint)
        checkpoint_time = known if known is not None else node.block(checkpoint)[1]
    except Exception:
        return None
    return max(0, target_time - checkpoint_time)


def _key(
    settings: HealthSettings, node: Node | None, role: str, reasons: list[HealthReason]
) -> KeyHealth:
    """One service key's balance against the threshold (a failure appended to `reasons`)."""
    minimum = settings.min_key_balance_wei
    try:
        address = service_key_address(settings.keys_dir, role)
    except ConfigError:  # no key file here: kept elsewhere, not this service's to judge
        return KeyHealth(role=role, address=None, min_balance_wei=str(minimum), ok=None)
    if node is None:
        return KeyHealth(role=role, address=address, min_balance_wei=str(minimum), ok=None)
    try:
        balance = node.balance(address)
    except Exception:
        return KeyHealth(role=role, address=address, min_balance_wei=str(minimum), ok=None)
    ok = balance >= minimum
    if not ok:
        reasons.append(
            HealthReason(
                code="key_low_balance",
                message=f"the {role} key {address} holds {balance} wei, less than {minimum}: "
                "fund it before its transactions stop",
            )
        )
    return KeyHealth(
        role=role,
        address=address,
        balance_wei=str(balance),
        min_balance_wei=str(minimum),
        ok=ok,
    )
