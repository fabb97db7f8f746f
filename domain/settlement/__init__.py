"""Settlement: pay shops in euros for redeemed HEIT, by SEPA credit transfer (pain.001.001.09 by
default, with structured addresses; pain.001.001.03 selectable per bank).

- `batch`: `settle` chooses the due redemptions (from the SQL mirror, `due`), groups them per
  shop, writes one pain.001 file plus a CSV summary and records the batch in the ledger;
- `remittance`: each shop payment's end-to-end id and remittance text (programme, period,
  settlement id); `target2`: the execution date, a TARGET2 business day;
- `payees`: which due shops can be paid and which are held (`HeldPayee`);
- `files`: the CSV summary and crash-safe writing of a batch's files;
- `reconcile`: `read_pain001` and `reconcile_settlements` (ledger vs files vs mirror);
- `run`: `run_settlement` (the finance officer's run: chain checked before anything is written,
  payees that cannot be paid held and listed) and `anchor_settlements` (record batches on chain
  with the settler key; `AnchorFailed` names the files left to record);
- `anchor`: a batch's redemption ids as ranges, split into parts that fit the block gas
  limit (`recordSettlementPart`), resumed from what the chain already recorded;
- `sepa`: build, validate and parse pain.001 documents (.09 and .03); `sepatext`: the EPC
  character set, the versions, structured postal addresses;
- `bank` (reading: `bankfiles`): the bank's feedback, camt.053 statements and pain.002 status
  reports, matched by end-to-end id; redemptions marked paid on the booking date
  (`store.bank`);
- `office`: what finance's pages (`web.office_finance`) show and do, with the staff log.

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
