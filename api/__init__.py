"""The Heitje HTTP service (FastAPI): accounts, tasks, custodial wallets, payments, redemptions,
auditor views and the citizen's wallet pages; its dispatcher mints rewards from an outbox.

May import `heitje`, `node` and `indexer`; nothing imports `api` (it is started as a process).
"""
