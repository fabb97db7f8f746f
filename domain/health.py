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
"""

from __future__ import annotations

import time
from datetime import datetime

from web3 import Web3

from domain.context import Context
from domain.schemas import (
    ChainHealth,
    DispatcherHealth,
    HealthReason,
    HealthReport,
    IndexerHealth,
    KeyHealth,
)
from heitje.errors import ConfigError
from indexer.mirror import Mirror
from node.keys import SERVICE_ROLES, service_key
from store.health import backlog


def health(ctx: Context, w3: Web3 | None = None) -> HealthReport:
    """Check chain, indexer, dispatcher and service keys (module docstring) and return the
    report. `w3`: the node to ask; by default the context's chain service's (none: the chain
    counts as unreachable). Never raises for an unhealthy service: that is what it reports."""
    settings = ctx.settings
    reasons: list[HealthReason] = []
    now = time.time()
    if w3 is None:
        chain_service = ctx.chain_source()
        w3 = chain_service.w3 if chain_service is not None else None

    # chain
    head: int | None = None
    head_time: int | None = None
    chain = ChainHealth(ok=False, reachable=False)
    try:
        if w3 is None:
            raise ConnectionError("no connection to the chain")
        block = w3.eth.get_block("latest")
        head, head_time = int(block["number"]), int(block["timestamp"])
        chain = ChainHealth(
            ok=True,
            reachable=True,
            chain_id=int(w3.eth.chain_id),
            head=head,
            head_age_seconds=max(0, int(now) - head_time),
        )
    except Exception as e:  # requests', web3's, timeouts: a node down or half up
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
    mirror = ctx.mirror_source()
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
        if mirror is not None and w3 is not None and head is not None and head_time is not None:
            target = max(0, head - settings.confirmations)
            lag = max(0, target - checkpoint.block_number)
            indexer.lag_blocks = lag
            indexer.lag_seconds = 0
            if lag > 0:
                indexer.lag_seconds = _lag_seconds(
                    w3, target, head, head_time, checkpoint.block_number, mirror
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
    owed = backlog(ctx.db)
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
    keys = [_key(ctx, w3 if head is not None else None, role, reasons) for role in SERVICE_ROLES]

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
    w3: Web3, target: int, head: int, head_time: int, checkpoint: int, mirror: Mirror
) -> int | None:
    """Block time between the checkpoint and the target block (None if either is unknown)."""
    try:
        target_time = head_time if target == head else int(w3.eth.get_block(target)["timestamp"])
        known = mirror.block_timestamp(checkpoint)
        checkpoint_time = (
            known if known is not None else int(w3.eth.get_block(checkpoint)["timestamp"])
        )
    except Exception:
        return None
    return max(0, target_time - checkpoint_time)


def _key(ctx: Context, w3: Web3 | None, role: str, reasons: list[HealthReason]) -> KeyHealth:
    """One service key's balance against the threshold (a failure appended to `reasons`)."""
    minimum = ctx.settings.min_key_balance_wei
    try:
        address = service_key(ctx.settings.keys_dir, role).address
    except ConfigError:  # no key file here: kept elsewhere, not this service's to judge
        return KeyHealth(role=role, address=None, min_balance_wei=str(minimum), ok=None)
    if w3 is None:
        return KeyHealth(role=role, address=address, min_balance_wei=str(minimum), ok=None)
    try:
        balance = int(w3.eth.get_balance(address))
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
