"""The app factory: `uvicorn api.app:create_app --factory`.

On start-up it checks settings (refusing an unsafe key-encryption key), opens the service
database, connects to the chain and starts the outbox dispatcher.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.accounts import create_user
from api.chain import ChainService
from api.config import Settings
from api.db import connect, init_db, transaction
from api.dispatcher import Dispatcher
from api.routes import accounts, audit, auth, pages, recovery, relay, tasks, wallet

log = logging.getLogger("heitje.api")


def _bootstrap_admin(settings: Settings) -> None:
    """Create the first admin from HEITJE_BOOTSTRAP_ADMIN_PASSWORD when no admin exists."""
    if settings.bootstrap_admin_password is None:
        return
    conn = connect(settings.service_db)
    try:
        with transaction(conn):
            if conn.execute("SELECT 1 FROM users WHERE role = 'admin'").fetchone():
                return
            create_user(
                conn,
                username=settings.bootstrap_admin_username,
                password=settings.bootstrap_admin_password.get_secret_value(),
                name="Administrator",
                role="admin",
                kek=None,
            )
    finally:
        conn.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI app. Settings come from HEITJE_* environment variables by default."""
    settings = settings or Settings()
    settings.check()
    if settings.rehearsal:
        log.warning("REHEARSAL MODE: clients may set business time (X-Heitje-Time)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        init_db(settings.service_db)
        _bootstrap_admin(settings)
        chain = ChainService.from_settings(settings)
        app.state.chain = chain
        dispatcher = None
        if settings.dispatcher:
            dispatcher = Dispatcher(
                settings.service_db, chain, settings.data_dir / "dispatcher.lock"
            )
            dispatcher.start()
        app.state.dispatcher = dispatcher
        try:
            yield
        finally:
            if dispatcher is not None:
                dispatcher.stop()

    app = FastAPI(
        title="Heitje",
        summary="A municipality's civic reward coin (HEIT): tasks, wallets, payments, audit.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.chain = None
    app.state.dispatcher = None
    app.state.mirror = None
    errors.install(app)
    for module in (auth, accounts, tasks, wallet, relay, recovery, audit, pages):
        app.include_router(module.router)

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Liveness: `{"status": "ok", "instance": <HEITJE_INSTANCE_ID>}` (the instance id lets a
        supervisor check it reached its own process, not another on the same port)."""
        return {"status": "ok", "instance": settings.instance_id}

    return app
