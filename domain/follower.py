"""The service follows the payments and redemptions nobody follows any more.

A payment is moved on by the request that made it and by its retries (`domain.payments`). When
the client goes away (a phone that lost its network, a process killed after it recorded the
payment), nothing would move it on: `follow_pending`, run every few seconds by a
`PaymentFollower` thread of the service (`domain.context.Services`), gives each such payment and
redemption one look (confirmed, refused, or relayed again with the same nonce), so none stays
`pending` for ever.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from domain.context import Caller, Context
from domain.payments import _move_payment, _move_redemption
from heitje.errors import ChainError, Refused
from store import payments

log = logging.getLogger("heitje.payments")

FOLLOW_AFTER = 10.0
"""Seconds after its receipt timeout from which a payment or redemption still pending is moved
on by the service itself (`follow_pending`), without a client asking."""


def follow_pending(ctx: Context, limit: int = 100) -> int:
    """Move on the payments and redemptions left `pending` that nobody follows any more (the
    client went away, the process that took the request died): those older than the receipt
    timeout plus FOLLOW_AFTER, oldest first, at most `limit`, each with one look (`_follow`
    with patience 0: confirmed, failed, or relayed again with the same nonce). Run by the
    service in the background (`PaymentFollower`); returns how many became final."""
    cutoff = ctx.now.timestamp() - ctx.settings.receipt_timeout - FOLLOW_AFTER
    done = 0
    for kind, row in payments.unfollowed(ctx.db, cutoff, limit):
        try:
            if kind == "payment":
                payer = Caller(row["payer_id"], row["payer"], row["payer_role"], "", None)
                moved = _move_payment(ctx, payer, row, 0.0).status
            else:
                moved = _move_redemption(ctx, int(row["shop_id"]), row, 0.0).status
        except (ChainError, Refused) as e:
            moved = "failed" if isinstance(e, ChainError) and e.code != "tx_refused" else ""
            log.info("following %s %s: %s", kind, row["id"], e)
        done += moved in ("confirmed", "failed")
    return done


class PaymentFollower:
    """A background thread that calls `follow_pending` every `every` seconds with a context
    from `open_context` (so no payment or redemption stays pending when its client is gone)."""

    def __init__(self, open_context: Callable[[], Context], every: float = 5.0) -> None:
        self._open = open_context
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heitje-payments", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                ctx = self._open()
                try:
                    follow_pending(ctx)
                finally:
                    ctx.close()
            except Exception:
                log.exception("following pending payments failed")
