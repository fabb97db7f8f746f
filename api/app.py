"""The app factory: `uvicorn api.app:create_app --factory`.

One process serves both faces over the same domain: the JSON API (`api.routes`) and the pages
(`web`). On start-up it checks settings (refusing an unsafe key-encryption key), key files
(owner-only) and the KEK against the database's check value (`domain.keyring`), then
`domain.context.Services` opens the service database, connects to the chain and starts the
outbox dispatcher.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api import docs, errors
from api.direct import FastReads
from api.limits import BodyLimit
from api.openapi import install as install_openapi
from api.routes import accounts, audit, auth, recovery, relay, tasks, wallet
from api.security import SecurityHeaders
from domain.context import Services
from domain.health import health as check_health
from domain.keyring import check_at_start as check_secrets_at_start
from domain.schemas import HealthPublic
from heitje.jsonguard import guard_recursion_limit
from heitje.settings import Settings

log = logging.getLogger("heitje.api")


SWITCH_INTERVAL = 0.0005
"""Seconds a thread holds the interpreter before another may take it (`sys.setswitchinterval`;
set by `create_app`)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI app. Settings come from HEITJE_* environment variables by default."""
    from web import pages  # the HTML face, mounted on the same app
    from web import tasks as task_pages

    # After every import (web3 pulls in py_ecc, which raises the limit to 100,000): deep C
    # recursion must fail as RecursionError, never overflow the stack (heitje.jsonguard).
    guard_recursion_limit()
    # The dispatcher's thread waits on the node most of the time; while request threads keep
    # the interpreter busy (a batch of approvals), each of its returns from a wait queued for
    # up to the switch interval (CPython's default 5 ms), so on the Clique network the first
    # mints missed two blocks. 0.5 ms hands the interpreter over sooner.
    sys.setswitchinterval(SWITCH_INTERVAL)
    settings = settings or Settings()
    settings.check()
    # Secrets: key files owner-only, the KEK opens the database's check value (domain.keyring).
    check_secrets_at_start(settings)
    if settings.rehearsal:
        log.warning("REHEARSAL MODE: clients may set business time (X-Heitje-Time)")
    services = Services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        guard_recursion_limit()  # again, in case a lazy import raised it since
        services.start()
        try:
            yield
        finally:
            services.stop()

    app = FastAPI(
        title="Heitje",
        summary="A municipality's civic reward coin (HEIT): tasks, wallets, payments, audit.",
        version="0.1.0",
        lifespan=lifespan,
        # No OpenTelemetry here: FastAPI's own would look its providers up on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # served from local files below (api.docs), never from a CDN
        redoc_url=None,
    )
    app.state.services = services
    errors.install(app)
    # Bodies bounded (size, JSON depth) before any route or page reads them (api.limits).
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    # wallet first: the most frequent reads are matched first (routes are tried in order)
    for module in (wallet, auth, accounts, tasks, relay, recovery, audit):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.include_router(task_pages.router)  # the task pages (browsers: api.routes.tasks)
    from web import shop  # the shop's pages

    app.include_router(shop.router)
    from web import office  # the municipality's staff pages (/office)

    app.include_router(office.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    docs.install(app)
    # Outermost: CSP, nosniff, Referrer-Policy, frame-ancestors, HSTS on every answer.
    app.add_middleware(SecurityHeaders, hsts=settings.cookie_secure)
    # Outside it: GET /wallet and /wallet/history answered before the stack (api.direct).
    app.add_middleware(
        FastReads,
        reads=wallet.FAST_READS,
        services=services,
        handlers=app.exception_handlers,
        hsts=settings.cookie_secure,
    )

    @app.get("/health/live", tags=["meta"], include_in_schema=False)
    def live() -> dict[str, str]:
        """Liveness: `{"status": "ok", "instance": <HEITJE_INSTANCE_ID>}` while the process
        answers, healthy or not (the instance id lets a supervisor check it reached its own
        process, not another on the same port)."""
        return {"status": "ok", "instance": settings.instance_id}

    @app.get(
        "/health",
        tags=["meta"],
        response_model=HealthPublic,
        responses={503: {"model": HealthPublic, "description": "Not healthy: see `reasons`."}},
    )
    def health() -> JSONResponse:
        """Health: chain reachable and its head; indexer lag in blocks and seconds; outbox
        backlog and the age of its oldest intent; each service key's native balance against
        its threshold (`domain.health`). 200 when every check is within bounds, else 503 with
        the same body and `reasons` (`chain_unreachable`, `mirror_missing`, `indexer_lagging`,
        `dispatcher_backlog`, `key_low_balance`); `instance` as for `/health/live`."""
        ctx = services.context(datetime.now(UTC))
        try:
            report = check_health(ctx)
        finally:
            ctx.close()
        body = HealthPublic(**report.model_dump(), instance=settings.instance_id)
        return JSONResponse(body.model_dump(mode="json"), status_code=200 if report.ok else 503)

    install_openapi(app)
    return app
