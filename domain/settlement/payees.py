"""Payees of a settlement batch: which due shops can go into the pain.001 file, and which are
held (no payee, or one `sepa.check_creditor` refuses) so that one bad payee stops no one else."""

from __future__ import annotations

from dataclasses import dataclass

from domain.settlement.sepa import Account, check_creditor
from heitje.errors import HeitjeError, InvalidInput
from heitje.money import BaseUnits
from indexer.mirror import Redemption
from store.payees import ShopPayee


class UnknownPayee(HeitjeError, LookupError):
    """Redemptions are due for a shop with no payee entry (no IBAN to pay). `shops`: addresses.
    (`settle` holds such redemptions, code `unknown_payee`, rather than raising.)"""

    code = "unknown_payee"

    def __init__(self, shops: list[str]) -> None:
        super().__init__(f"no payee (IBAN) for shop(s) with due redemptions: {', '.join(shops)}")
        self.shops = shops


@dataclass(frozen=True)
class HeldPayee:
    """A shop whose due redemptions a batch could not pay: its payee cannot go into a pain.001
    file. `shop` (address), `shop_id` (username, None when unknown), stable `code`
    (`unknown_payee`, `invalid_iban`, `iban_not_sepa`, `invalid_bic`, `bic_mismatch`,
    `invalid_payee_name`), human `reason`, and the redemptions left due: `units` (base units)
    over `redemption_ids` (ascending). They stay unsettled; a run after the payee is fixed pays
    them."""

    shop: str
    shop_id: str | None
    code: str
    reason: str
    units: BaseUnits
    redemption_ids: tuple[int, ...]


def check_payees(
    per_shop: dict[str, list[Redemption]], by_address: dict[str, ShopPayee]
) -> tuple[dict[str, Account], list[HeldPayee]]:
    """Per due shop (lower-case address) its checked creditor account, or a hold: no payee
    (`unknown_payee`) or a payee `check_creditor` refuses (its code). Holds by shop id, then
    address."""
    creditors: dict[str, Account] = {}
    held: list[HeldPayee] = []
    for key, rows in per_shop.items():
        payee = by_address.get(key)
        try:
            if payee is None:
                raise UnknownPayee([str(rows[0].shop)])
            creditors[key] = check_creditor(
                payee.sepa_name or payee.name, payee.iban, payee.bic, payee.shop_id
            )
        except (UnknownPayee, InvalidInput) as e:
            held.append(
                HeldPayee(
                    shop=str(rows[0].shop),
                    shop_id=None if payee is None else payee.shop_id,
                    code=e.code,
                    reason=e.message,
                    units=BaseUnits(int(sum(r.amount for r in rows))),
                    redemption_ids=tuple(sorted(r.redemption_id for r in rows)),
                )
            )
    held.sort(key=lambda h: (h.shop_id or "", h.shop.lower()))
    return creditors, held
