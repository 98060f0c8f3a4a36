"""The local dashboard, its JSON API, the API docs and the Prometheus metrics of an edge.

The page (edge.web.dashboard) is server-side HTML and SVG with no scripts or
external assets: it is read on a laptop plugged into a substation switch with
no internet. `/docs` and `/redoc` serve Swagger UI and ReDoc from assets
shipped in a package (fastapi-offline), never from a CDN, for the same reason.
The JSON API carries the same facts for scripts and for ``carbon-edge edge status``.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from edge.web.dashboard import DashboardView, render_dashboard


class StatusSource(Protocol):
    registry: CollectorRegistry

    def gateways(self) -> dict[str, Any]: ...

    def counters(self) -> dict[str, Any]: ...

    def book(self) -> list[dict[str, Any]]: ...

    def results(self, limit: int) -> list[dict[str, Any]]: ...

    def chain(self) -> dict[str, Any]: ...

    def sync(self) -> dict[str, Any]: ...

    def summary(self) -> dict[str, Any]: ...

    def dashboard(self) -> DashboardView: ...


def create_app(src: StatusSource) -> FastAPI:
    app: FastAPI = FastAPIOffline(
        title="carbon-edge status", version="1",
        description="Local status of one edge hub: gateways, counters, market, chain.")

    @app.get("/", response_class=HTMLResponse, summary="Status page (HTML)")
    def page() -> str:
        return render_dashboard(src.dashboard())

    @app.get("/api/status", summary="Everything on the page, as JSON")
    def status() -> dict[str, Any]:
        return {**src.summary(), "gateways": src.gateways(), "counters": src.counters(),
                "book": src.book(), "results": src.results(10), "chain": src.chain(),
                "sync": src.sync()}

    @app.get("/api/gateways", summary="Gateways and their last readings")
    def gateways() -> dict[str, Any]:
        return src.gateways()

    @app.get("/api/counters", summary="Counters: accepted by type, rejected by reason")
    def counters() -> dict[str, Any]:
        return src.counters()

    @app.get("/api/book", summary="Pending orders of intervals not yet final (P4)")
    def book() -> list[dict[str, Any]]:
        return src.book()

    @app.get("/api/results", summary="Last published round results, newest first")
    def results(limit: int = Query(20, ge=1, le=1000)) -> list[dict[str, Any]]:
        return src.results(limit)

    @app.get("/api/chain", summary="Chain height, head hash and pending transactions")
    def chain() -> dict[str, Any]:
        return src.chain()

    @app.get("/api/sync", summary="State of the sync with the central hub")
    def sync() -> dict[str, Any]:
        return src.sync()

    @app.get("/metrics", summary="Prometheus metrics")
    def metrics() -> Response:
        return Response(generate_latest(src.registry), media_type=CONTENT_TYPE_LATEST)

    return app
