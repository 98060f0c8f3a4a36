"""The hub's FastAPI application: `create_app(settings)`.

Everything the API decides is decided in the library modules (ingest,
registry, mainchain, receipts, prices, alarms); this module maps their typed
refusals to HTTP once, counts them, authenticates edge writes and runs the
main-block schedule. Handlers that touch the database are plain `def`, so
FastAPI runs them in its thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from edge.chain.keys import (
    KeyFileError,
    PrivateKey,
    generate_key,
    load_private_key,
    public_id,
    save_private_key,
)
from hub.allocation.api import router as allocation_router
from hub.carbon.api import router as carbon_router
from hub.service import alarms, ingest, mainchain, prices, receipts
from hub.service.auth import authenticate
from hub.service.db import Database
from hub.service.errors import AuthError, ForbiddenError, HubError, NotFound
from hub.service.registry import EdgeInfo
from hub.service.schemas import (
    AlarmsOut,
    BlocksIn,
    EdgeBlockOut,
    ErrorOut,
    HeadOut,
    HealthOut,
    HubOut,
    IngestOut,
    MainBlockOut,
    MainMade,
    PricesOut,
    PublishAllocationIn,
    PublishIn,
    ReceiptsOut,
    SiteId,
    TxProofOut,
)
from hub.service.settings import Settings

log = logging.getLogger("hub.service")

EdgeIdPath = Annotated[str, PathParam(pattern=r"^[0-9a-f]{64}$",
                                      description="the edge's public id (hex Ed25519 key)")]
Height = Annotated[int, PathParam(ge=0, le=(1 << 53) - 1)]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "bad block or gap; or a body that is not JSON",
            401: "unknown edge, bad signature or stale request",
            403: "revoked edge, another edge's path, or operator API disabled",
            404: "not found", 409: "equivocation or fork (alarm recorded)",
            413: "too many blocks in one request", 422: "schema error"}
    return {c: {"model": ErrorOut, "description": text[c]} for c in codes if c != 422}


async def signed_edge(request: Request, edge_id: EdgeIdPath) -> EdgeInfo:
    """The registered, active edge that signed this request for its own path."""
    settings: Settings = request.app.state.settings
    body = await request.body()
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    edge = await run_in_threadpool(
        authenticate, request.app.state.db, settings.request_window_s, request.method, path,
        request.headers, body, int(time.time() * 1000),
    )
    if edge.edge_id != edge_id:
        raise ForbiddenError("wrong_edge", "an edge may only act on its own path")
    return edge


_bearer = HTTPBearer(auto_error=False, description="operator token (settings.operator_token)")


def operator(
    request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Operator endpoints need the configured bearer token; without one they are off."""
    token = request.app.state.settings.operator_token
    if token is None:
        raise ForbiddenError("operator_api_disabled", "no operator token is configured")
    given = "" if cred is None else cred.credentials
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise AuthError("bad_operator_token", "missing or wrong operator bearer token")


Signed = Annotated[EdgeInfo, Depends(signed_edge)]
Operator = Annotated[None, Depends(operator)]


class TooMany(HubError):
    status = 413


class Metrics:
    """The hub's own counters, in a registry per app so tests can build many apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.refused = Counter("hub_refused_total", "Requests refused, by reason",
                               ["reason"], registry=self.registry)
        self.accepted = Counter("hub_blocks_accepted_total", "Edge blocks stored",
                                registry=self.registry)
        self.duplicates = Counter("hub_blocks_duplicate_total", "Edge blocks offered again",
                                  registry=self.registry)
        self.alarms = Counter("hub_alarms_total", "Equivocation and fork alarms", ["kind"],
                              registry=self.registry)
        self.main_blocks = Counter("hub_main_blocks_total", "Main-chain blocks made",
                                   registry=self.registry)


def load_or_create_hub_key(path: str) -> PrivateKey:
    """The hub key; created (mode 0600) on first start so a fresh hub just works."""
    if not Path(path).exists():
        key = generate_key()
        save_private_key(key, path)
        log.warning("created a new hub key at %s (public id %s)", path,
                    public_id(key.public_key()))
        return key
    return load_private_key(path)


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    db = db or Database(settings.database_url)
    try:
        key = load_or_create_hub_key(settings.hub_key_path)
    except KeyFileError as exc:
        raise SystemExit(f"hub key: {exc}") from None
    hub_id = public_id(key.public_key())
    metrics = Metrics()

    def make_main() -> mainchain.MainBlockInfo | None:
        made = mainchain.make_main_block(db, key)
        if made is not None:
            metrics.main_blocks.inc()
            log.info("main block %d anchors %d edge heads", made.header.height, len(made.entries))
        return made

    async def schedule() -> None:
        while True:
            await asyncio.sleep(settings.main_interval_s)
            try:
                await run_in_threadpool(make_main)
            except Exception:  # noqa: BLE001 - the schedule must outlive one bad round
                log.exception("scheduled main block failed; retrying next interval")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(schedule()) if settings.main_interval_s > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="carbon-edge central hub",
        version="1",
        description="Edge registry, block ingest, main chain and anchor receipts, price "
                    "signals, carbon-flow tracing and Owen allocation. Edge writes are signed "
                    "requests (X-Edge-Id, X-Edge-Ts, X-Edge-Sig); see docs/hub.md.",
        lifespan=lifespan,
    )
    app.state.db, app.state.hub_id, app.state.metrics = db, hub_id, metrics
    app.state.settings = settings

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(req: Request, exc: StarletteHTTPException) -> Response:
        """Our /v1 errors all read {"detail": {"reason", "message"}} (e.g. a body not JSON)."""
        if not req.url.path.startswith("/v1") or isinstance(exc.detail, dict):
            return await http_exception_handler(req, exc)
        reason = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, f"http_{exc.status_code}")
        metrics.refused.labels(reason=reason).inc()
        return JSONResponse({"detail": {"reason": reason, "message": str(exc.detail)}},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(HubError)
    async def _hub_error(_req: Request, exc: HubError) -> JSONResponse:
        metrics.refused.labels(reason=exc.reason).inc()
        if exc.reason in alarms.KINDS:
            metrics.alarms.labels(kind=exc.reason).inc()
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status)


    @app.get("/healthz", response_model=HealthOut, summary="Liveness",
             description="Answers while the process serves requests and the database answers.")
    def healthz() -> dict[str, str]:
        mainchain.main_head(db)
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus counters",
             description="Refusals by reason, blocks accepted and duplicated, alarms, main "
                         "blocks; plus the allocation and carbon counters.")
    def metrics_text() -> str:
        return (generate_latest(metrics.registry) + generate_latest(REGISTRY)).decode()

    @app.get("/v1/hub", response_model=HubOut, summary="Hub identity",
             description="The hub's public id (pin it in edge configs) and main-chain height.")
    def hub_info() -> dict[str, Any]:
        head = mainchain.main_head(db)
        return {"hub_id": hub_id, "main_height": -1 if head is None else head.height,
                "database": db.dialect}

    @app.get("/v1/edges/{edge_id}/head", response_model=HeadOut, responses=_errors(401, 403),
             summary="The edge's acknowledged head",
             description="The highest block the hub stored for this edge (height -1 when none). "
                         "Signed request by the edge itself.")
    def get_head(edge_id: EdgeIdPath, _edge: Signed) -> dict[str, Any]:
        return ingest.head_of(db, edge_id).as_dict()

    @app.post("/v1/edges/{edge_id}/blocks", response_model=IngestOut,
              responses=_errors(400, 401, 403, 409, 413),
              summary="Push a batch of edge blocks",
              description="Blocks in height order, starting at any height <= head+1. Each new "
                          "block is verified with edge.chain.verify.check_block (signature, "
                          "producer, Merkle root, link, time order). Blocks the hub holds are "
                          "counted as duplicates, so retries are safe. A different block at a "
                          "stored height answers 409 and records an alarm; blocks before a "
                          "refused one are kept.")
    def post_blocks(edge_id: EdgeIdPath, body: BlocksIn, _edge: Signed) -> dict[str, Any]:
        if len(body.blocks) > settings.max_blocks_per_request:
            raise TooMany("too_many_blocks", f"{len(body.blocks)} blocks; at most "
                          f"{settings.max_blocks_per_request} per request")
        raw = [b.model_dump() for b in body.blocks]
        res = ingest.ingest_batch(db, edge_id, raw)
        metrics.accepted.inc(res.accepted)
        metrics.duplicates.inc(res.duplicates)
        return {"accepted": res.accepted, "duplicates": res.duplicates,
                "head": res.head.as_dict()}

    @app.get("/v1/edges/{edge_id}/receipts", response_model=ReceiptsOut,
             responses=_errors(401, 403), summary="Anchor receipts for the edge",
             description="Receipts from main blocks above `after`, oldest first (at most 100). "
                         "Check one offline: carbon-edge hub check-receipt --file r.json --hub ID.")
    def get_receipts(edge_id: EdgeIdPath, _edge: Signed,
                     after: Annotated[int, Query(ge=-1, le=(1 << 53) - 1)] = -1) -> dict[str, Any]:
        return {"receipts": receipts.receipts_for(db, edge_id, after)}

    @app.get("/v1/edges/{edge_id}/blocks/{height}", response_model=EdgeBlockOut,
             responses=_errors(404), summary="One stored edge block",
             description="The header and transactions as the edge signed them.")
    def get_edge_block(edge_id: EdgeIdPath, height: Height) -> dict[str, Any]:
        return receipts.edge_block(db, edge_id, height)

    @app.get("/v1/edges/{edge_id}/blocks/{height}/txs/{idx}/proof", response_model=TxProofOut,
             responses=_errors(404), summary="A transaction with its proof up to an anchor",
             description="Inclusion proof to the edge header, the edge headers up to the first "
                         "anchored head, and the receipt of that head in a main block.")
    def get_tx_proof(edge_id: EdgeIdPath, height: Height,
                     idx: Annotated[int, PathParam(ge=0, le=1_000_000)]) -> dict[str, Any]:
        return receipts.tx_proof(db, edge_id, height, idx)

    @app.get("/v1/main/head", response_model=MainBlockOut, responses=_errors(404),
             summary="The newest main block")
    def get_main_head() -> dict[str, Any]:
        head = mainchain.main_head(db)
        if head is None:
            raise NotFound("no_main_block", "the hub has made no main block yet")
        return mainchain.main_block(db, head.height).as_dict()

    @app.get("/v1/main/blocks/{height}", response_model=MainBlockOut, responses=_errors(404),
             summary="One main block", description="Header and the anchored edge heads.")
    def get_main_block(height: Height) -> dict[str, Any]:
        return mainchain.main_block(db, height).as_dict()

    @app.post("/v1/main/blocks", response_model=MainMade, responses=_errors(400, 401, 403),
              summary="Make a main block now (operator)",
              description="What the schedule does, on demand: anchor every moved edge head.")
    def post_main_block(_op: Operator) -> dict[str, Any]:
        made = make_main()
        return {"created": made is not None, "block": None if made is None else made.as_dict()}

    @app.get("/v1/alarms", response_model=AlarmsOut, summary="Equivocation and fork alarms",
             description="Oldest first, after the alarm id `after`; filter by `edge`.")
    def get_alarms(
        edge: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$")] = None,
        after: Annotated[int, Query(ge=0, le=(1 << 53) - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        return {"alarms": [a.as_dict() for a in alarms.list_alarms(db, edge, after, limit)]}

    @app.get("/v1/prices", response_model=PricesOut, summary="Price signals for a site",
             description="PriceSignal messages signed by the hub with ts above `after`, oldest "
                         "first; check each with edge.protocol.auth.check_signature and the "
                         "pinned hub id.")
    def get_prices(site: Annotated[SiteId, Query()],
                   after: Annotated[int, Query(ge=-1, le=(1 << 53) - 1)] = -1) -> dict[str, Any]:
        return {"signals": prices.signals_for(db, site, after)}

    @app.post("/v1/prices", response_model=dict[str, Any], responses=_errors(400, 401, 403),
              summary="Publish a price signal (operator)",
              description="Signs the fields with the hub key, stamps a ts after the site's "
                          "last signal, stores it; returns the signed PriceSignal.")
    def post_prices(body: PublishIn, _op: Operator) -> dict[str, Any]:
        fields = {"v": 1, "type": "price", **body.model_dump()}
        return prices.publish(db, key, fields)

    @app.post("/v1/prices/from-allocation", response_model=dict[str, Any],
              responses=_errors(400, 401, 403),
              summary="Publish an allocation's adders (operator)",
              description="Turns the `signal` of POST /allocation/prices into a signed "
                          "PriceSignal for one site (p_low/p_high from the ladder tiers).")
    def post_prices_allocation(body: PublishAllocationIn,
                               _op: Operator) -> dict[str, Any]:
        fields = prices.fields_from_allocation(
            body.allocation, site=body.site, valid_from=body.valid_from,
            valid_to=body.valid_to, intensity_g_kwh=body.intensity_g_kwh)
        return prices.publish(db, key, fields)

    app.include_router(carbon_router)
    app.include_router(allocation_router)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory for `carbon-edge hub serve` (settings from CARBON_HUB_* variables)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return create_app(Settings.from_env())
