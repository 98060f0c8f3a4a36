"""The edge's dashboard page: what a field installer reads on a laptop at the substation.

`render_dashboard(view)` is a pure function from a `DashboardView` (plain
numbers gathered by the edge service) to one HTML page: per gateway whether
it is online, stale or offline and when it was last seen, its latest readings
with units, the open book, the last results, and charts over the last day.
No scripts and no external assets: the page works with no internet, and it
refreshes itself with a meta tag. Wall-clock times are ISO formatted in the
edge's local time zone and labelled "wall"; market intervals are in UTC and
labelled "market": the two are never mixed without a label, because in a
simulation the market clock runs faster than the wall clock.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.web.charts import Axis, Series, bar_chart, line_chart

STYLE = """body{font-family:sans-serif;margin:1em;color:#222;max-width:1400px}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin-top:1.4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.3em 0}td,th{border:1px solid #bbb;padding:2px 7px;
font-size:90%;text-align:left}th{background:#f2f2f2}.online{color:#176317;font-weight:bold}
.stale{color:#a86400;font-weight:bold}.offline,.unknown{color:#b00020;font-weight:bold}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:10px}
.facts span{display:inline-block;margin-right:1.4em}.note{color:#666;font-size:90%}"""

#: A gateway is stale when not heard from for this long (wall seconds), offline after OFFLINE_S
STALE_S = 120
OFFLINE_S = 600


@dataclass(frozen=True)
class GatewayView:
    id: str
    last_seen_ms: int | None           # wall clock
    state: str                         # what the gateway said: online / offline / unknown
    readings: Sequence[dict[str, Any]] = ()


@dataclass(frozen=True)
class DashboardView:
    site: str
    edge_id: str
    wall_ms: int
    market_ms: int
    broker_connected: bool
    sync_state: str
    chain_height: int
    anchored_height: int
    pending_txs: int
    gateways: Sequence[GatewayView] = ()
    book: Sequence[dict[str, Any]] = ()
    results: Sequence[dict[str, Any]] = ()
    #: (interval start s, price micro/kWh or None, volume Wh), oldest first, last day
    intervals: Sequence[tuple[int, int | None, int]] = ()
    #: gateway -> [(interval start s, imported Wh, exported Wh)]
    energy: dict[str, Sequence[tuple[int, int, int]]] = field(default_factory=dict)
    #: battery device -> [(wall ms, SOC %)]
    soc: dict[str, Sequence[tuple[int, float]]] = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)
    #: [(wall ms, chain height, anchored height)]
    heights: Sequence[tuple[int, int, int]] = ()
    tz: dt.tzinfo | None = None


def wall_text(ms: int | None, tz: dt.tzinfo | None = None) -> str:
    """Wall-clock time in ISO form in the edge's local zone (or `tz`)."""
    if ms is None:
        return "never"
    return dt.datetime.fromtimestamp(ms / 1000, tz).astimezone(tz).isoformat(timespec="seconds")


def market_text(s: int) -> str:
    """A market interval start, in UTC (market time is what the chain and the book use)."""
    return dt.datetime.fromtimestamp(s, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def liveness(g: GatewayView, wall_ms: int) -> str:
    if g.last_seen_ms is None or g.state == "offline":
        return "offline" if g.last_seen_ms is not None else "unknown"
    age = (wall_ms - g.last_seen_ms) / 1000
    if age > OFFLINE_S:
        return "offline"
    return "stale" if age > STALE_S else "online"


def reading_text(r: dict[str, Any]) -> str:
    """One device reading with units: power W, energy Wh, state of charge %."""
    parts = [f"{r.get('dev', '?')} ({r.get('kind', '?')}, {r.get('q', '?')})"]
    if r.get("p_w") is not None:
        parts.append(f"{r['p_w']:,} W")
    if r.get("e_imp_wh") is not None:
        parts.append(f"import {r['e_imp_wh']:,} Wh")
    if r.get("e_exp_wh") is not None:
        parts.append(f"export {r['e_exp_wh']:,} Wh")
    if r.get("soc_pm") is not None:
        parts.append(f"SOC {r['soc_pm'] / 10:.1f} %")
    return ", ".join(parts)


def _table(head: list[str], rows: list[list[Any]], raw_cols: set[int] = frozenset()) -> str:
    if not rows:
        return '<p class="note">none</p>'
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if i in raw_cols else html.escape(str(c))}</td>"
                         for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def price_text(p: int | None) -> str:
    return "-" if p is None else f"{p / 1e6:.4f} /kWh"


def charts(v: DashboardView) -> dict[str, str]:
    labels = {s: dt.datetime.fromtimestamp(s, dt.timezone.utc).strftime("%H:%M")
              for s, _, _ in v.intervals}
    out = {
        "price": line_chart(
            "Clearing price per interval", [Series("price", [s for s, p, _ in v.intervals
                                                             if p is not None],
                                                   [p / 1e6 for _, p, _ in v.intervals
                                                    if p is not None], step=True)],
            Axis("market time (UTC)"), Axis("price", "currency/kWh"), labels),
        "volume": line_chart(
            "Volume cleared per interval", [Series("volume", [s for s, _, _ in v.intervals],
                                                   [w / 1000 for _, _, w in v.intervals],
                                                   step=True)],
            Axis("market time (UTC)"), Axis("volume", "kWh"), labels),
        "energy": line_chart(
            "Net import per gateway (+ import, - export)",
            [Series(gw, [s for s, _, _ in rows], [(i - e) / 1000 for _, i, e in rows], step=True)
             for gw, rows in sorted(v.energy.items())],
            Axis("market time (UTC)"), Axis("net import", "kWh"), labels),
    }
    t0 = v.wall_ms - 86_400_000
    out["soc"] = line_chart(
        "Battery state of charge",
        [Series(dev, [(t - t0) / 3_600_000 for t, _ in pts], [x for _, x in pts])
         for dev, pts in sorted(v.soc.items())],
        Axis("wall time, hours of the last day"), Axis("SOC", "%"))
    out["heights"] = line_chart(
        "Chain height and anchored height",
        [Series("chain", [(t - t0) / 3_600_000 for t, _, _ in v.heights],
                [h for _, h, _ in v.heights], step=True),
         Series("anchored", [(t - t0) / 3_600_000 for t, _, _ in v.heights],
                [a for _, _, a in v.heights], step=True)],
        Axis("wall time, hours of the last day"), Axis("height", "blocks"))
    out["rejections"] = bar_chart("Messages refused, by reason",
                                  sorted(v.rejections.items()), Axis("", "messages"))
    return out


def render_dashboard(v: DashboardView, refresh_s: int = 10) -> str:
    t = html.escape
    gws = []
    for g in sorted(v.gateways, key=lambda g: g.id):
        live = liveness(g, v.wall_ms)
        gws.append([t(g.id), f'<span class="{live}">{live}</span>',
                    t(wall_text(g.last_seen_ms, v.tz)),
                    "<br>".join(t(reading_text(r)) for r in g.readings) or "-"])
    book = [[market_text(o["interval"]), o.get("order_no", o.get("seq", "")),
             o.get("participant", o.get("gw", "")), o.get("side", ""),
             f"{o.get('qty_wh', 0):,} Wh", price_text(o.get("price")), o.get("status", ""),
             o.get("round", "")] for o in v.book]
    results = [[market_text(r["interval"]), r.get("round", ""), "yes" if r.get("final") else "no",
                price_text(r.get("price")), f"{r.get('volume_wh', 0):,} Wh",
                r.get("regime") or "-"] for r in v.results]
    c = charts(v)
    online = sum(1 for g in v.gateways if liveness(g, v.wall_ms) == "online")

    def fig(k: str) -> str:
        return f'<div class="fig" id="chart-{k}">{c[k]}</div>'

    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh_s}">
<title>Edge {t(v.site)}</title><style>{STYLE}</style></head><body>
<h1>Edge hub {t(v.site)}</h1>
<p class="facts"><span>wall {t(wall_text(v.wall_ms, v.tz))}</span>
<span>market {t(market_text(v.market_ms // 1000))}</span>
<span>gateways online {online}/{len(v.gateways)}</span>
<span>broker {"connected" if v.broker_connected else "DISCONNECTED"}</span>
<span>hub sync {t(v.sync_state)}</span>
<span>chain height {v.chain_height} (anchored {v.anchored_height}, {v.pending_txs} txs
pending)</span></p>
<p class="note">edge id {t(v.edge_id)} · refreshes every {refresh_s} s ·
<a href="/api/status">JSON</a> · <a href="/metrics">metrics</a> · <a href="/docs">API</a></p>
<h2>Gateways</h2>{_table(["gateway", "state", "last seen (wall)", "latest readings"], gws,
                         {0, 1, 2, 3})}
<h2>Market</h2><div class="grid">{fig("price")}{fig("volume")}</div>
<h3>Open order book</h3>{_table(["interval (market)", "order", "participant", "side",
                                   "quantity", "price", "status", "round"], book)}
<h3>Last results</h3>{_table(["interval (market)", "round", "final", "price", "volume",
                                "regime"], results)}
<h2>Energy and batteries</h2><div class="grid">{fig("energy")}{fig("soc")}</div>
<h2>Chain and messages</h2><div class="grid">{fig("heights")}{fig("rejections")}</div>
</body></html>"""
