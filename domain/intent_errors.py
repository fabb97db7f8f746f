"""Why an outbox intent is blocked and how long it waits (`domain.outbox`): the plain-text
reason shown with the task, and the doubling wait before the next try."""

from __future__ import annotations

FIRST_RETRY = 1.0
"""Seconds a blocked intent waits after its first failure; each further failure doubles it."""

_REASONS = {
    "paused": "the token is paused; tried again until it is unpaused",
    "no_active_period": "no reward period is open on chain; tried again until one is",
    "period_budget_exceeded": (
        "the budget of the reward period is used up; tried again until a new period is open"
    ),
    "citizen_cap_exceeded": (
        "the citizen reached the cap of the reward period; tried again until a new period is open"
    ),
    "not_a_citizen": "the wallet is not registered as a citizen's on chain (yet); tried again",
    "missing_role": "the service's key lacks the role for this transaction; tried again",
    "tx_refused": "the chain node refused the transaction; tried again",
    "tx_reverted": "the transaction failed on chain; tried again",
}
"""Plain-text reasons of a blocked intent, by error code (shown with the task)."""


def retry_delay(failures: int, retry_max: float) -> float:
    """Seconds a blocked intent waits after a failure when it had `failures` before:
    FIRST_RETRY doubled `failures` times, at most `retry_max` (1, 2, 4, ... s)."""
    return min(retry_max, FIRST_RETRY * 2.0 ** min(failures, 32))


def blocked_reason(code: str, detail: str) -> str:
    """The `last_error` of a blocked intent, "code: plain-text reason"; `detail` (the chain's
    or node's own words) is added only where the code has no reason of its own, or the node's
    words are the reason."""
    reason = _REASONS.get(code)
    if reason is None:
        return f"{code}: the chain refused the transaction ({detail}); tried again"
    if code == "tx_refused":
        return f"{code}: {reason} ({detail})"
    return f"{code}: {reason}"
