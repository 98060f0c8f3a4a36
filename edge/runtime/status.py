"""The local status page, its JSON API and the Prometheus metrics, served by the edge.

Plain HTML with no scripts or external assets: the page is read on a laptop
plugged into a substation switch with no internet. The JSON API carries the
same facts for scripts and for ``carbon-edge edge status``.
"""

from __future__ import annotations

import html
from typing import Any, Protocol

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class StatusSource(Protocol):
    registry: CollectorRegistry

    def gateways(self) -> dict[str, Any]: ...

    def counters(self) -> dict[str, Any]: ...

    def book(self) -> list[dict[str, Any]]: ...

    def results(self, limit: int) -> list[dict[str, Any]]: ...

    def chain(self) -> dict[str, Any]: ...

    def sync(self) -> dict[str, Any]: ...

    def summary(self) -> dict[str, Any]: ...


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    if not rows:
        return "<p><i>none</i></p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_page(src: StatusSource) -> str:
    s = src.summary()
    gws = [
        {"gateway": g, "last seen (ms)": v.get("recv_ms", ""), "seq": v.get("seq", ""),
         "readings": "; ".join(
             f"{r['dev']} {r['q']} p={r.get('p_w', '-')}W soc={r.get('soc_pm', '-')}"
             for r in v.get("readings", []))}
        for g, v in sorted(src.gateways().items())
    ]
    counters = [{"counter": k, "n": v} for k, v in sorted(src.counters()["all"].items())]
    results = [{k: r.get(k) for k in ("interval", "round", "final", "price", "volume_wh",
                                       "regime")} for r in src.results(10)]
    chain, sync = src.chain(), src.sync()
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>carbon-edge {html.escape(str(s['site']))}</title>
<style>body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:2px 6px;font-size:90%}}</style></head><body>
<h1>Edge hub {html.escape(str(s['site']))}</h1>
<p>market time {s['now_ms']} ms; chain height {chain['height']} ({chain['pending']} txs pending);
sync: {html.escape(str(sync.get('state', 'off')))}; broker connected: {s['broker_connected']}</p>
<h2>Gateways</h2>{_table(gws, ["gateway", "last seen (ms)", "seq", "readings"])}
<h2>Open order book</h2>{_table(src.book(), ["interval", "order_no", "participant", "side",
                                             "qty_wh", "price", "status", "round"])}
<h2>Last results</h2>{_table(results, ["interval", "round", "final", "price", "volume_wh",
                                       "regime"])}
<h2>Counters</h2>{_table(counters, ["counter", "n"])}
<p>JSON: <a href="/api/status">/api/status</a> · metrics: <a href="/metrics">/metrics</a></p>
</body></html>"""


def create_app(src: StatusSource) -> FastAPI:
    app = FastAPI(title="carbon-edge status", version="1",
                  description="Local status of one edge hub: gateways, counters, market, chain.")

    @app.get("/", response_class=HTMLResponse, summary="Status page (HTML)")
    def page() -> str:
        return render_page(src)

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

    @app.get("/api/book", summary="Pending orders of intervals not yet final (SEEDS P4)")
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
