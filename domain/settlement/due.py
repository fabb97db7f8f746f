"""Which redemptions a settlement run finds due: read from the SQL mirror within the run's
cut-offs (a block time and a block number), checked before anything is paid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from heitje.errors import InvalidInput, NotFound
from indexer.errors import MirrorBehind
from indexer.mirror import Mirror, Redemption

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def due_redemptions(
    mirror_db: Path, through: datetime | None, through_block: int | None
) -> tuple[list[Redemption], int]:
    """Mirror redemptions within the cut-offs (settled or not) and the block cut-off applied."""
    if not mirror_db.is_file():
        raise NotFound(f"database {mirror_db} does not exist", code="database_not_found")
    with Mirror(mirror_db) as mirror:
        checkpoint = mirror.checkpoint()
        if checkpoint is None:
            raise MirrorBehind("the mirror has no checkpoint: the indexer has not run yet")
        indexed = checkpoint.block_number
        if through_block is not None and through_block > indexed:
            raise MirrorBehind(
                f"settlement through block {through_block} but the mirror has indexed only"
                f" through block {indexed}: let the indexer catch up first"
            )
        cutoff = indexed if through_block is None else through_block
        redemptions = mirror.redemptions(
            through_timestamp=None if through is None else unix_seconds(through),
            through_block=cutoff,
        )
    for r in redemptions:
        if r.amount <= 0:
            raise InvalidInput(
                f"mirror redemption {r.redemption_id} has shop {r.shop!r} and amount {r.amount!r}",
                code="invalid_mirror",
            )
    return redemptions, cutoff


def unix_seconds(moment: datetime) -> int:
    """Whole unix seconds at or before `moment` (floor; integer arithmetic, no float)."""
    return (moment - _EPOCH) // timedelta(seconds=1)
