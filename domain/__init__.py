"""The rules of Heitje: accounts, tasks (lifecycle and caps), wallet (payments, refunds,
redemptions, history), recovery and erasure, the outbox, settlement.

Plain functions over a `domain.context.Context`; no FastAPI and no HTML: the JSON API
(`api`), the pages (`web`) and the command line (`scripts`) call the same functions here.
Imports `heitje`, `node`, `store` and `indexer`.
"""
