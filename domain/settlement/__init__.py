"""Settlement: pay shops in euros for redeemed HEIT, by SEPA credit transfer (pain.001.001.03).

- `batch`: `settle` chooses the due redemptions (from the SQL mirror), groups them per shop,
  writes one pain.001 file plus a CSV summary and records the batch in the ledger;
- `payees`: which due shops can be paid and which are held (`HeldPayee`);
- `files`: the CSV summary and crash-safe writing of a batch's files;
- `reconcile`: `read_pain001` and `reconcile_settlements` (ledger vs files vs mirror);
- `run`: `run_settlement` (the finance officer's run: chain checked before anything is written,
  payees that cannot be paid held and listed) and `anchor_settlements` (record batches on chain
  with the settler key; `AnchorFailed` names the files left to record);
- `anchor`: a batch's redemption ids as ranges, split into parts that fit the block gas
  limit (`recordSettlementPart`), resumed from what the chain already recorded;
- `sepa`: build, validate and parse pain.001.001.03 documents.

The ledger itself (tables, single payment by PRIMARY KEY) is `store.ledger`; shops' payee data
`store.payees`.
"""

from __future__ import annotations

from domain.settlement.batch import (
    Municipality,
    SettlementResult,
    ShopPayment,
    settle,
)
from domain.settlement.payees import HeldPayee, UnknownPayee
from domain.settlement.reconcile import FilePayment, read_pain001, reconcile_settlements
from domain.settlement.run import (
    AnchorFailed,
    ChainCheckFailed,
    anchor_settlements,
    check_chain,
    held_payees,
    ledger_batches,
    run_settlement,
)
from domain.settlement.sepa import InvalidPain001
from indexer.errors import MirrorBehind
from store.ledger import AlreadySettled, InvalidLedger
from store.payees import ShopPayee

__all__ = [
    "AlreadySettled",
    "AnchorFailed",
    "ChainCheckFailed",
    "FilePayment",
    "HeldPayee",
    "InvalidLedger",
    "InvalidPain001",
    "MirrorBehind",
    "Municipality",
    "SettlementResult",
    "ShopPayee",
    "ShopPayment",
    "UnknownPayee",
    "anchor_settlements",
    "check_chain",
    "held_payees",
    "ledger_batches",
    "read_pain001",
    "reconcile_settlements",
    "run_settlement",
    "settle",
]
