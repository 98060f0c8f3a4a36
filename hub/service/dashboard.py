"""The hub's own page for operators: `render_hub_page(view)`, a pure function.

What an operator checks first: which hub this is, which edges are
registered and how far each chain is pushed and anchored, the main chain,
alarms (equivocations, forks), and the latest price signals and carbon
intensities, with charts over time. Server-side SVG only (edge/web/charts),
no scripts and no CDN, so it works on an air-gapped operations network.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.web.charts import Axis, Series, bar_chart, line_chart

STYLE = """body{font-family:sans-serif;margin:1em;color:#222;max-width:1400px}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.3em 0}td,th{border:1px solid #bbb;padding:2px 7px;
font-size:90%;text-align:left}th{background:#f2f2f2}.bad{color:#b00020;font-weight:bold}
.ok{color:#176317;font-weight:bold}.grid{display:grid;grid-template-columns:repeat(auto-fill,
minmax(520px,1fr));gap:10px}.note{color:#666;font-size:90%}.facts span{margin-right:1.4em}"""


@dataclass(frozen=True)
class EdgeRow:
    name: str
    edge_id: str
    site: str | None
    status: str
    head_height: int          # -1: nothing pushed yet
    anchored_height: int      # -1: nothing anchored yet
    last_push_ms: int | None = None


@dataclass(frozen=True)
class HubView:
    hub_id: str
    wall_ms: int
    edges: Sequence[EdgeRow] = ()
    #: main blocks, oldest first: (height, ts ms, number of anchored heads)
    main_blocks: Sequence[tuple[int, int, int]] = ()
    #: (kind, detail, at ms), newest first
    alarms: Sequence[tuple[str, str, int]] = ()
    #: latest signals: dicts with site, valid_from, valid_to, intensity_g_kwh, adders
    prices: Sequence[dict[str, Any]] = ()
    tz: dt.tzinfo | None = None
    extra_links: dict[str, str] = field(default_factory=dict)


def when(ms: int | None, tz: dt.tzinfo | None = None) -> str:
    if ms is None:
        return "never"
    return dt.datetime.fromtimestamp(ms / 1000, tz).astimezone(tz).isoformat(timespec="seconds")


def interval_text(s: int) -> str:
    return dt.datetime.fromtimestamp(s, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _table(head: list[str], rows: list[list[Any]], raw: set[int] = frozenset()) -> str:
    if not rows:
        return '<p class="note">none</p>'
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{c if i in raw else html.escape(str(c))}</td>"
                                 for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{b}</table>"


def charts(v: HubView) -> dict[str, str]:
    t0 = v.main_blocks[0][1] if v.main_blocks else v.wall_ms
    out = {"main": line_chart(
        "Main chain height", [Series("main chain", [(ts - t0) / 60_000 for _, ts, _ in
                                                    v.main_blocks],
                                     [h for h, _, _ in v.main_blocks], step=True)],
        Axis("wall time since the first block", "min"), Axis("height", "blocks"))}
    by_site: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for p in v.prices:
        by_site[str(p.get("site"))].append((int(p["valid_from"]), int(p["intensity_g_kwh"])))
    labels = {s: dt.datetime.fromtimestamp(s, dt.timezone.utc).strftime("%H:%M")
              for pts in by_site.values() for s, _ in pts}
    out["intensity"] = line_chart(
        "Carbon intensity in the price signals, per site",
        [Series(site, [s for s, _ in sorted(pts)], [g for _, g in sorted(pts)], step=True)
         for site, pts in sorted(by_site.items())],
        Axis("valid from (market time, UTC)"), Axis("intensity", "g CO2/kWh"), labels)
    out["edges"] = bar_chart(
        "Pushed and anchored heights per edge",
        [(f"{e.name} pushed", e.head_height + 1) for e in v.edges]
        + [(f"{e.name} anchored", e.anchored_height + 1) for e in v.edges],
        Axis("", "blocks"))
    return out


def render_hub_page(v: HubView, refresh_s: int = 15) -> str:
    t = html.escape
    edges = []
    for e in sorted(v.edges, key=lambda e: e.name):
        lag = e.head_height - e.anchored_height
        state = ('<span class="ok">anchored</span>' if lag <= 0 and e.head_height >= 0 else
                 f'<span class="bad">{lag} behind</span>' if e.head_height >= 0 else "empty")
        edges.append([t(e.name), t(e.edge_id[:16] + "…"), t(e.site or "-"), t(e.status),
                      e.head_height, e.anchored_height, state, t(when(e.last_push_ms, v.tz))])
    alarms = [[t(k), t(d), t(when(at, v.tz))] for k, d, at in v.alarms]
    latest: dict[str, dict[str, Any]] = {}
    for p in v.prices:
        s = str(p.get("site"))
        if s not in latest or p["valid_from"] > latest[s]["valid_from"]:
            latest[s] = p
    prices = [[t(s), t(interval_text(int(p["valid_from"]))), t(interval_text(int(p["valid_to"]))),
               f"{p['intensity_g_kwh']} g/kWh", len(p.get("adders") or {})]
              for s, p in sorted(latest.items())]
    main = [[h, t(when(ts, v.tz)), n] for h, ts, n in list(v.main_blocks)[-10:][::-1]]
    c = charts(v)
    alarm_line = (f'<span class="bad">{len(v.alarms)} alarms</span>' if v.alarms else
                  '<span class="ok">no alarms</span>')
    links = " · ".join(f'<a href="{t(u)}">{t(k)}</a>' for k, u in
                       {"API docs": "/docs", "metrics": "/metrics", **v.extra_links}.items())

    def fig(k: str) -> str:
        return f'<div class="fig" id="chart-{k}">{c[k]}</div>'

    height = v.main_blocks[-1][0] if v.main_blocks else -1
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh_s}"><title>carbon-edge hub</title>
<style>{STYLE}</style></head><body>
<h1>Central hub</h1>
<p class="facts"><span>hub id {t(v.hub_id)}</span><span>wall {t(when(v.wall_ms, v.tz))}</span>
<span>{len(v.edges)} edges</span><span>main chain height {height}</span>{alarm_line}</p>
<p class="note">{links}</p>
<h2>Edges</h2>{_table(["name", "edge id", "site", "status", "pushed height", "anchored height",
                       "state", "last push (wall)"], edges, {6})}
<div class="grid">{fig("edges")}{fig("main")}</div>
<h2>Alarms</h2>{_table(["kind", "detail", "raised (wall)"], alarms)}
<h2>Price signals and carbon intensity</h2>
{_table(["site", "valid from (market)", "valid to (market)", "intensity", "adders"], prices)}
<div class="grid">{fig("intensity")}</div>
<h2>Main chain, last blocks</h2>{_table(["height", "made (wall)", "edge heads anchored"], main)}
</body></html>"""
