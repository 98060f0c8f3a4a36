"""The report of a simulated day: one self-contained HTML page plus CSV and JSON.

Everything is drawn server-side (edge/web/charts.py), so the page opens from
the run folder on any machine, offline, and can be attached to a bug report.
Times on the page are simulated market time (UTC, the scenario's day) and are
labelled so; the run's wall-clock start is printed once at the top.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
from collections import defaultdict
from pathlib import Path

from edge.web.charts import Axis, Series, bar_chart, heatmap, line_chart
from simulator.record import RunRecord

STYLE = """body{font-family:sans-serif;margin:1.2em;max-width:1400px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #bbb;padding:2px 8px;
font-size:90%;text-align:left}th{background:#f2f2f2}.ok{color:#176317;font-weight:bold}
.bad{color:#b00020;font-weight:bold}.grid{display:grid;grid-template-columns:repeat(auto-fill,
minmax(560px,1fr));gap:12px}.note{color:#666;font-size:90%}"""


def hhmm(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%H:%M")


def _table(head: list[str], rows: list[list[object]]) -> str:
    if not rows:
        return '<p class="note">none</p>'
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, Markup) else html.escape(str(c))}"
                                 "</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{b}</table>"


class Markup(str):
    """Trusted HTML (our own spans), not escaped by `_table`."""


def charts(rec: RunRecord) -> dict[str, str]:
    """Every chart of the report by a short key (the test looks them up by key)."""
    out: dict[str, str] = {}
    by_sub: dict[str, list] = defaultdict(list)
    for r in rec.interval_rows:
        by_sub[r.substation].append(r)
    labels = {r.interval_ms: hhmm(r.interval_ms) for r in rec.interval_rows}
    out["price"] = line_chart(
        "Clearing price per interval (final round)",
        [Series(s, [r.interval_ms for r in rows if r.price is not None],
                [r.price / 1e6 for r in rows if r.price is not None], step=True)
         for s, rows in sorted(by_sub.items())],
        Axis("market time (UTC)"), Axis("price", "currency/kWh"), labels)
    out["volume"] = line_chart(
        "Energy traded per interval",
        [Series(s, [r.interval_ms for r in rows], [r.volume_wh / 1000 for r in rows], step=True)
         for s, rows in sorted(by_sub.items())],
        Axis("market time (UTC)"), Axis("traded", "kWh"), labels)
    socs: dict[str, list] = defaultdict(list)
    for g in rec.gateway_rows:
        if g.soc_pct is not None:
            socs[g.gateway].append((g.interval_ms, g.soc_pct))
    out["soc"] = line_chart(
        "Battery state of charge",
        [Series(gw, [t for t, _ in pts], [v for _, v in pts]) for gw, pts in sorted(socs.items())],
        Axis("market time (UTC)"), Axis("SOC", "%"), labels)
    if rec.carbon_rows:
        buses = sorted({b for c in rec.carbon_rows for b in c.intensity_g_kwh})
        out["intensity"] = heatmap(
            "Nodal carbon intensity on the feeder",
            [f"bus {b}" for b in buses], [hhmm(c.interval_ms) for c in rec.carbon_rows],
            [[c.intensity_g_kwh.get(b, float("nan")) for c in rec.carbon_rows] for b in buses],
            "g/kWh", "market time (UTC)", "bus")
    out["emissions"] = line_chart(
        "Emissions per interval, with and without carbon adders",
        [Series(name, [t for t, _ in pts], [g / 1000 for _, g in pts])
         for name, pts in (("with adders", rec.emissions_with_adders_g),
                           ("without adders", rec.emissions_without_adders_g)) if pts],
        Axis("market time (UTC)"), Axis("emissions", "kg CO2"), labels)
    energy: dict[str, int] = defaultdict(int)
    money: dict[str, int] = defaultdict(int)
    for g in rec.gateway_rows:
        energy[g.gateway] += g.traded_wh
        money[g.gateway] += g.money_micro
    out["energy"] = bar_chart("Energy settled per gateway (+ bought, - sold)",
                              [(k, v / 1000) for k, v in sorted(energy.items())], Axis("", "kWh"))
    out["money"] = bar_chart("Money settled per gateway (+ received, - paid)",
                             [(k, v / 1e6) for k, v in sorted(money.items())],
                             Axis("", "currency"))
    hs: dict[str, list] = defaultdict(list)
    for h in rec.heights:
        hs[h.substation].append(h)
    t0 = min((h.t_ms for h in rec.heights), default=0)
    out["heights"] = line_chart(
        "Chain height and anchored height per edge",
        [Series(f"{s} {what}", [(h.t_ms - t0) / 1000 for h in rows],
                [getattr(h, what) for h in rows], step=True)
         for s, rows in sorted(hs.items()) for what in ("height", "anchored")],
        Axis("wall time since start", "s"), Axis("height", "blocks"))
    rej: dict[str, int] = defaultdict(int)
    for per in rec.rejections.values():
        for reason, n in per.items():
            rej[reason] += n
    out["rejections"] = bar_chart("Messages refused, by reason", sorted(rej.items()),
                                  Axis("", "messages"))
    return out


def carbon_market(rec: RunRecord) -> str:
    """The carbon market's cycle: its trades, then every participant's quota or position."""
    if not rec.carbon_accounts and not rec.carbon_trades:
        return ""
    trades = [[t.seller, t.buyer, t.phase, t.qty_g, t.price, t.turnover_micro,
               t.transfer, "yes" if t.minted else "no"] for t in rec.carbon_trades]
    accounts = [[a.participant, a.role, a.bus, a.basis_wh, a.allowance_g, a.emissions_g,
                 a.verified_g, a.price] for a in rec.carbon_accounts]
    g = sum(t.qty_g for t in rec.carbon_trades)
    money = sum(t.turnover_micro for t in rec.carbon_trades)
    refused = ", ".join(f"{k} {v}" for k, v in sorted(rec.carbon_evidence_refused.items()))
    return f"""<h2>Carbon market</h2>
<p>One clearing cycle over the day: {len(rec.carbon_trades)} trades, {g} g CO2,
turnover {money} micro-currency; each payment locked on the carbon chain and minted on
the electricity side from its proof. Meter readings without valid evidence (not
counted): {html.escape(refused or "none")}.</p>
{_table(["seller", "buyer", "phase", "g CO2", "price (micro/kg)", "turnover (micro)",
         "peg transfer", "minted"], trades)}
{_table(["participant", "role", "bus", "metered (Wh)", "allowance (g)", "emissions (g)",
         "quota / position (g)", "ask / bid (micro/kg)"], accounts)}"""


def render_html(rec: RunRecord) -> str:
    c = charts(rec)
    traded = sum(r.volume_wh for r in rec.interval_rows)
    verdict = (Markup('<span class="ok">all invariants hold</span>') if rec.ok else
               Markup('<span class="bad">INVARIANTS BROKEN</span>'))
    inv = [[i.name, Markup('<span class="ok">ok</span>' if i.ok else
                           '<span class="bad">broken</span>'), i.detail]
           for i in rec.invariants]
    faults = [[f.at, f.kind, f.target, f.effect] for f in rec.faults]
    subs = []
    for s in rec.substations:
        rows = [r for r in rec.interval_rows if r.substation == s]
        acc = sum(rec.accepted.get(s, {}).values())
        rej = sum(rec.rejections.get(s, {}).values())
        hs = [h for h in rec.heights if h.substation == s]
        subs.append([s, len(rows), sum(1 for r in rows if r.volume_wh),
                     f"{sum(r.volume_wh for r in rows) / 1000:.1f}", acc, rej,
                     hs[-1].height if hs else "", hs[-1].anchored if hs else ""])
    started = dt.datetime.fromtimestamp(rec.started_ms / 1000, dt.timezone.utc)
    files = [[k, Markup(f'<a href="{html.escape(v)}">{html.escape(v)}</a>')]
             for k, v in sorted(rec.files.items())]

    def fig(key: str) -> str:
        return f'<div class="fig" id="chart-{key}">{c[key]}</div>' if key in c else ""

    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Simulated day: {html.escape(rec.scenario)}</title><style>{STYLE}</style></head><body>
<h1>Simulated day: {html.escape(rec.scenario)}</h1>
<p>{verdict}. {rec.intervals} intervals, seed {rec.seed}; {traded / 1000:.1f} kWh traded;
run started {started:%Y-%m-%d %H:%M:%S} UTC (wall clock) and took {rec.wall_s:.0f} s.
Chart times are simulated market time (UTC).</p>
<h2>Invariants</h2>{_table(["invariant", "result", "detail"], inv)}
<h2>Substations</h2>{_table(["substation", "intervals cleared", "intervals traded",
                              "traded (kWh)", "messages accepted", "messages refused",
                              "chain height", "anchored height"], subs)}
<h2>Market</h2><div class="grid">{fig("price")}{fig("volume")}</div>
<h2>Batteries and settlement</h2><div class="grid">{fig("soc")}{fig("energy")}{fig("money")}</div>
<h2>Carbon</h2><div class="grid">{fig("intensity")}{fig("emissions")}</div>
{carbon_market(rec)}
<h2>Chains and messages</h2><div class="grid">{fig("heights")}{fig("rejections")}</div>
<h2>Faults</h2>{_table(["at (market time)", "fault", "target", "effect"], faults)}
<h2>Files</h2>{_table(["what", "file"], files)}
</body></html>"""


def _csv(path: Path, head: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(head)
        w.writerows(rows)


def write_report(rec: RunRecord, folder: Path) -> Path:
    """Write report.html, report.json and the CSV files into `folder`; return the HTML path."""
    folder.mkdir(parents=True, exist_ok=True)
    _csv(folder / "intervals.csv",
         ["substation", "interval_utc", "interval_ms", "rounds", "price_micro_per_kwh",
          "volume_wh", "regime", "adder_max_micro_per_kwh"],
         [[r.substation, hhmm(r.interval_ms), r.interval_ms, r.rounds, r.price, r.volume_wh,
           r.regime, r.adder_max] for r in rec.interval_rows])
    _csv(folder / "gateways.csv",
         ["substation", "gateway", "interval_utc", "interval_ms", "net_wh", "traded_wh",
          "money_micro", "battery_wh", "soc_pct", "limit_micro_per_kwh", "side"],
         [[g.substation, g.gateway, hhmm(g.interval_ms), g.interval_ms, g.net_wh, g.traded_wh,
           g.money_micro, g.battery_wh, g.soc_pct, g.limit, g.side] for g in rec.gateway_rows])
    if rec.carbon_rows:
        buses = sorted({b for c in rec.carbon_rows for b in c.intensity_g_kwh})
        _csv(folder / "carbon.csv",
             ["interval_utc", "interval_ms", "generation_g", "load_g", "loss_g",
              *[f"bus_{b}_g_kwh" for b in buses]],
             [[hhmm(c.interval_ms), c.interval_ms, round(c.generation_g, 3),
               round(c.load_g, 3), round(c.loss_g, 3),
               *[round(c.intensity_g_kwh.get(b, float("nan")), 3) for b in buses]]
              for c in rec.carbon_rows])
    if rec.emissions_rows:
        _csv(folder / "emissions.csv",
             ["substation", "interval_utc", "interval_ms", "adder_max_micro_per_kwh",
              "price_with_adders", "volume_with_adders_wh", "emissions_with_adders_g",
              "price_without_adders", "volume_without_adders_wh",
              "emissions_without_adders_g"],
             [[e.substation, hhmm(e.interval_ms), e.interval_ms, e.adder_max, e.price_with,
               e.volume_with_wh, round(e.emissions_with_g, 3), e.price_without,
               e.volume_without_wh, round(e.emissions_without_g, 3)]
              for e in rec.emissions_rows])
        rec.files["emissions with and without adders (CSV)"] = "emissions.csv"
    if rec.carbon_accounts:
        _csv(folder / "carbon-trades.csv",
             ["seller", "buyer", "phase", "qty_g", "price_micro_per_kg", "turnover_micro",
              "transfer", "minted"],
             [[t.seller, t.buyer, t.phase, t.qty_g, t.price, t.turnover_micro, t.transfer,
               t.minted] for t in rec.carbon_trades])
        rec.files["carbon trades (CSV)"] = "carbon-trades.csv"
    rec.files.update({"intervals (CSV)": "intervals.csv", "gateways (CSV)": "gateways.csv",
                      "everything (JSON)": "report.json"})
    if rec.carbon_rows:
        rec.files["carbon (CSV)"] = "carbon.csv"
    (folder / "report.json").write_text(json.dumps(rec.to_json(), indent=1), encoding="utf-8")
    out = folder / "report.html"
    out.write_text(render_html(rec), encoding="utf-8")
    return out
