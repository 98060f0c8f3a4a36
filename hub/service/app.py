"""The hub's FastAPI application: `create_app(settings)` wires state, routers and refusals.

Everything the API decides is decided in the library modules (ingest,
registry, mainchain, receipts, prices, alarms); the routers in
hub.service.routes map requests onto them through the dependencies of
hub.service.deps, and the route class of hub.service.routing reads, limits,
authenticates and refuses every request the same way. This module only
builds the state (database, hub key, clock, operator token), mounts the
routers (the compute routers /carbon and /allocation included) and runs the
main-block schedule. Handlers that touch the database are plain `def`, so
FastAPI runs them in its thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from edge.chain.keys import PrivateKey
from edge.clock import SYSTEM, Clock
from hub.allocation.api import router as allocation_router
from hub.carbon.api import router as carbon_router
from hub.period.api import router as period_router
from hub.period.service import PeriodLoop
from hub.service.db import Database
from hub.service.errors import HubError
from hub.service.identity import hub_key
from hub.service.routes import alarms, edges, main, ops, pages, prices
from hub.service.routing import from_http, from_validation, refusal_response
from hub.service.settings import Settings

log = logging.getLogger("hub.service")


def create_app(settings: Settings, db: Database | None = None, clock: Clock = SYSTEM,
               key: PrivateKey | None = None) -> FastAPI:
    """The hub app. Raises IdentityError/KeyFileError/SettingsError before serving anything."""
    db = db or Database(settings.database_url)
    key = key or hub_key(db, settings.hub_key_path)
    token = settings.token()
    loop = PeriodLoop.from_settings(db, key, clock, settings)

    async def schedule() -> None:
        while True:
            await asyncio.sleep(settings.main_interval_s)
            try:
                await run_in_threadpool(main.make_main, db, key, clock)
            except Exception:  # noqa: BLE001 - the schedule must outlive one bad round
                log.exception("scheduled main block failed; retrying next interval")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(schedule()) if settings.main_interval_s > 0 else None
        period_task = asyncio.create_task(loop.schedule()) if loop.scheduled else None
        try:
            yield
        finally:
            if period_task is not None:
                period_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await period_task
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app: FastAPI = FastAPIOffline(  # /docs and /redoc from shipped assets, never a CDN
        title="carbon-edge central hub",
        version="1",
        description="Edge registry, block ingest, main chain and anchor receipts, price "
                    "signals, carbon-flow tracing and Owen allocation. Edge writes are signed "
                    "requests (X-Edge-Id, X-Edge-Ts, X-Edge-Sig); every refusal reads "
                    '{"detail": {"reason", "message", ...}}; see docs/hub.md.',
        lifespan=lifespan,
    )
    app.state.settings, app.state.db, app.state.clock = settings, db, clock
    app.state.hub_key, app.state.operator_token = key, token
    app.state.period_loop = loop

    # What never reaches a route (unknown path, wrong method) is refused in the same shape.
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> Response:
        return refusal_response(from_http(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> Response:
        return refusal_response(from_validation(exc))

    @app.exception_handler(HubError)
    async def _hub_error(_req: Request, exc: HubError) -> Response:
        return refusal_response(exc)

    for router in (pages.router, ops.router, main.router, edges.router, prices.router,
                   alarms.router, period_router, carbon_router, allocation_router):
        app.include_router(router)
    return app
