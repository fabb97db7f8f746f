"""What a settlement's credit transfers carry besides the amount: the end-to-end id of each
shop payment and its remittance text (programme, period, settlement id)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from domain.settlement.sepatext import sepa_text
from indexer.mirror import Redemption

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_E2E = re.compile(r"^[A-Za-z0-9/\-?:().,'+]{1,35}$")


def end_to_end_id(batch_id: str, n: int, width: int = 2) -> str:
    """The end-to-end id of payment `n` (from 1) of batch `batch_id`: `<batch_id>-<nn>`
    ("HEIT-20220331-0001-01"), `n` zero-padded to `width` digits. Stable (the ledger keeps it
    per redemption), unique (batch ids are), at most 35 characters of the EPC set: how a bank's
    statement or status report finds its payment. Raises ValueError otherwise."""
    e2e = f"{batch_id}-{n:0{width}d}"
    if not _E2E.fullmatch(e2e) or n < 1:
        raise ValueError(f"end-to-end id {e2e!r} is not 1-35 characters of the EPC set")
    return e2e


def period(redemptions: list[Redemption], created_at: datetime) -> str:
    """The months of `redemptions` (block times in `created_at`'s UTC offset) as the remittance
    names them: "2022-03", or "2022-02/2022-03" when they span more than one month."""
    tz = created_at.tzinfo
    seconds = {r.block_timestamp for r in redemptions}  # many share a block: each time once
    months = sorted(
        {(_EPOCH + timedelta(seconds=s)).astimezone(tz).strftime("%Y-%m") for s in seconds}
    )
    if not months:
        return created_at.strftime("%Y-%m")
    return months[0] if len(months) == 1 else f"{months[0]}/{months[-1]}"


def remittance(programme: str, months: str, end_to_end_id: str, ids: tuple[int, ...]) -> str:
    """Remittance text of a shop's payment: "Heitje <municipality> <period> <e2e> redemptions
    12,13,17" (the municipality's name in the EPC set, at most 40 characters), cut at a whole
    id with "(+n more)" to fit 140 characters."""
    name = sepa_text(programme, 40)
    head = f"Heitje {name} {months} {end_to_end_id} redemptions "
    if len(ids) <= 140:  # more ids than that never fit (a digit and a comma each at least)
        text = head + ",".join(map(str, ids))
        if len(text) <= 140:
            return text
    shown: list[str] = []
    for i, rid in enumerate(ids):
        tail = f" (+{len(ids) - i - 1} more)"
        if len(head + ",".join([*shown, str(rid)]) + tail) > 140:
            break
        shown.append(str(rid))
    return head + ",".join(shown) + f" (+{len(ids) - len(shown)} more)"
