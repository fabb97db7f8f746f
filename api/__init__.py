"""The JSON face of Heitje (FastAPI): routers over `domain` for accounts, tasks, wallets,
payments, redemptions, relaying, recovery and auditor views.

`api.app:create_app` builds the one ASGI app and mounts the pages of `web` on it.
"""
