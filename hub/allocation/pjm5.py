"""The PJM five-bus study of P1: 24 hourly markets, carbon-blind and with adders.

Data: hub/data/pjm5/ (network.json, generators.csv, loads.csv, profiles.csv;
PROVENANCE.md says where every number comes from). For each hour the study
builds the network-constrained market, clears it carbon-blind, computes the
Owen allocation of its emissions (regions are the unions), turns it into
ladder adders, clears the revised quotations, and records emissions and the
use of PV, wind, gas, coal and hydro in both clearings.

Conversions from the data's engineering units to the market's integers are
exact: MW over one hour -> Wh (x 1e6), $/MWh -> micro-$/kWh (x 1000),
tCO2/MWh -> g/kWh (x 1000), profile factors (three decimals) applied as exact
fractions and rounded half up to whole Wh.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from hub.allocation import dcopf
from hub.allocation.ladder import DEFAULT_TIERS, Tiers, ladder, round_half_up
from hub.allocation.market import Entity, Market, MarketGame
from hub.allocation.owen import owen

DATA = Path(__file__).resolve().parents[1] / "data" / "pjm5"
TECHS = ("pv", "wind", "gas", "coal", "hydro")
RENEWABLES = ("pv", "wind")


@dataclass(frozen=True)
class Scenario:
    network: dcopf.Network
    generators: list[dict[str, str]]
    loads: list[dict[str, str]]
    profiles: list[dict[str, str]]

    def with_renewable_offer(self, usd_per_mwh: str) -> Scenario:
        """The same scenario with every PV and wind unit offering ``usd_per_mwh`` ($/MWh).

        The data's offer level is a stated choice (PROVENANCE.md), not a
        measurement, so the study can be rerun across levels (docs/owen.md).
        """
        level = Fraction(usd_per_mwh)
        if level < 0 or level * 1000 >= 2**31:
            raise ValueError(f"renewable offer: {usd_per_mwh} $/MWh is out of range")
        gens = [{**g, "offer_usd_per_mwh": str(level)} if g["tech"] in RENEWABLES else g
                for g in self.generators]
        return replace(self, generators=gens)

    def market(self, hour: int) -> Market:
        prof = self.profiles[hour]

        def factor(name: str) -> Fraction:
            return Fraction(prof[name]) if name else Fraction(1)

        gens = tuple(
            Entity(
                g["id"], "gen", g["region"],
                round_half_up(Fraction(g["pmin_mw"]) * 10**6 * factor(g["profile"])),
                round_half_up(Fraction(g["pmax_mw"]) * 10**6 * factor(g["profile"])),
                round_half_up(Fraction(g["offer_usd_per_mwh"]) * 1000),
                round_half_up(Fraction(g["intensity_t_per_mwh"]) * 1000),
                tech=g["tech"],
            )
            for g in self.generators
        )
        loads = tuple(
            Entity(
                ld["id"], "load", ld["region"], 0,
                round_half_up(Fraction(ld["peak_mw"]) * 10**6 * factor(ld["profile"])),
                round_half_up(Fraction(ld["bid_usd_per_mwh"]) * 1000),
            )
            for ld in self.loads
        )
        return Market(gens, loads, self.network, 3600, self.network.buses)


def load_scenario(folder: Path = DATA) -> Scenario:
    net = json.loads((folder / "network.json").read_text())
    network = dcopf.Network(
        tuple(net["buses"]),
        tuple(dcopf.Line(ln["id"], ln["from"], ln["to"], ln["x"], ln["limit_w"])
              for ln in net["lines"]),
        net["slack"],
    )

    def rows(name: str) -> list[dict[str, str]]:
        with open(folder / name, newline="") as f:
            return list(csv.DictReader(f))

    profiles = rows("profiles.csv")
    if [int(p["hour"]) for p in profiles] != list(range(24)):
        raise ValueError(f"{folder / 'profiles.csv'}: hours 0..23 expected, in order")
    return Scenario(network, rows("generators.csv"), rows("loads.csv"), profiles)


def run_hour(sc: Scenario, hour: int, tiers: Tiers = DEFAULT_TIERS,
             method: str = "auto", seed: int = 0) -> dict[str, Any]:
    """One hourly market: carbon-blind clearing, allocation, adders, re-clearing."""
    market = sc.market(hour)
    game = MarketGame(market)
    res = owen(game, method=method, seed=seed)
    lad = ladder(market, res, tiers)
    rm = lad.revised_market
    row: dict[str, Any] = {"hour": hour, "method": res.method,
                           "coalitions_cleared": game.cleared}
    for name, mk, out in (("blind", market, lad.blind), ("carbon", rm, lad.revised)):
        use = mk.use_by_tech(out)
        row[f"{name}_emissions_t"] = mk.emissions_mg(out) / 1e9
        row[f"{name}_demand_mwh"] = out.volume_wh / 1e6
        for tech in TECHS:
            row[f"{name}_{tech}_mwh"] = use.get(tech, 0) / 1e6
        row[f"{name}_network_lp"] = out.network_lp
    row["sides"] = {e.id: e.side for e in market.entities}
    row["adders"] = lad.adders()
    row["allocation_t"] = {r.entity.id: float(r.allocation_g) / 1e6 for r in lad.rows}
    row["cleared_blind_mwh"] = {e.id: q / 1e6 for e, q in _cleared(market, lad.blind)}
    row["cleared_carbon_mwh"] = {e.id: q / 1e6 for e, q in _cleared(rm, lad.revised)}
    return row


def _cleared(market: Market, out: Any) -> list[tuple[Entity, int]]:
    return [(e, (out.gen_wh if e.side == "gen" else out.load_wh)[e.id]) for e in market.entities]


def allocation_checks(sc: Scenario, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per hour, the paper's allocation claims: hydro is the generators' minimum,
    renewables lie above it, and allocation tracks the carbon-blind clearing.

    "Tracks" is read as: within each type, the Spearman rank correlation over
    the hours between an entity's allocation and its cleared quantity,
    averaged over the entities that vary (emitting generators and loads; a
    zero-carbon unit's allocation is negative, so it tracks with the opposite
    sign and is reported separately).
    """
    tech = {g["id"]: g["tech"] for g in sc.generators}
    hydro = [g for g, t in tech.items() if t == "hydro"]
    hydro_min, ren_above = [], []
    for r in rows:
        gens = {k: v for k, v in r["allocation_t"].items() if k in tech}
        low = min(gens.values())
        if all(gens[h] == low for h in hydro):
            hydro_min.append(r["hour"])
        if all(v > max(gens[h] for h in hydro) for k, v in gens.items() if tech[k] in RENEWABLES):
            ren_above.append(r["hour"])
    corr: dict[str, float] = {}
    for e in list(rows[0]["allocation_t"]) if rows else []:
        a = [r["allocation_t"][e] for r in rows]
        q = [r["cleared_blind_mwh"][e] for r in rows]
        rho = _spearman(a, q)
        if rho is not None:
            corr[e] = rho
    groups = {"emitting_generators": [e for e in corr if tech.get(e) in ("coal", "gas")],
              "loads": [e for e in corr if e not in tech],
              "zero_carbon_generators": [e for e in corr if tech.get(e) in (*RENEWABLES, "hydro")]}
    return {"hydro_minimum_hours": hydro_min, "renewables_above_hydro_hours": ren_above,
            "tracking_rank_correlation": corr,
            "tracking_mean": {k: (sum(corr[e] for e in v) / len(v) if v else None)
                              for k, v in groups.items()}}


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman rank correlation (scipy's), None when either series is constant."""
    from scipy.stats import spearmanr

    if len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(spearmanr(a, b).statistic)


def summarise(rows: Sequence[dict[str, Any]], sc: Scenario | None = None) -> dict[str, Any]:
    """Totals over the hours, whether the seeds' expected effect shows, and the
    allocation checks when the scenario is given."""
    keys = ["emissions_t", "demand_mwh"] + [f"{t}_mwh" for t in TECHS]
    tot = {f"{c}_{k}": sum(r[f"{c}_{k}"] for r in rows) for c in ("blind", "carbon") for k in keys}
    change = {k: tot[f"carbon_{k}"] - tot[f"blind_{k}"] for k in keys}
    return {
        "hours": [r["hour"] for r in rows],
        "totals": tot,
        "change": change,
        "expected_effect": {
            "emissions_fall": change["emissions_t"] < 0,
            "pv_rises": change["pv_mwh"] > 0,
            "wind_rises": change["wind_mwh"] > 0,
            "gas_rises": change["gas_mwh"] > 0,
        },
        "emissions_rise_hours": [r["hour"] for r in rows
                                 if r["carbon_emissions_t"] > r["blind_emissions_t"]],
        **({"allocation": allocation_checks(sc, rows)} if sc is not None and rows else {}),
    }


def run_study(hours: Sequence[int], tiers: Tiers = DEFAULT_TIERS, method: str = "auto",
              seed: int = 0, folder: Path = DATA, renewable_offer: str | None = None,
              on_hour: Callable[[int], None] | None = None,
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every hour of ``hours`` and the study's summary; ``on_hour(hour)`` after each one
    (an hour's Owen allocation takes seconds: the CLI shows a bar)."""
    sc = load_scenario(folder)
    if renewable_offer is not None:
        sc = sc.with_renewable_offer(renewable_offer)
    rows = []
    for h in hours:
        rows.append(run_hour(sc, h, tiers, method, seed))
        if on_hour is not None:
            on_hour(h)
    return rows, summarise(rows, sc)


CSV_FIELDS = ["hour", "method", "coalitions_cleared"] + [
    f"{c}_{k}" for c in ("blind", "carbon")
    for k in ["emissions_t", "demand_mwh"] + [f"{t}_mwh" for t in TECHS] + ["network_lp"]
]


def write_outputs(out: Path, rows: Sequence[dict[str, Any]], summary: dict[str, Any]) -> list[Path]:
    """Table (CSV + JSON) and plots (PNG) of the study into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "pjm5_hourly.csv", out / "pjm5.json"]
    with open(written[0], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    written[1].write_text(json.dumps({"summary": summary, "hours": list(rows)}, indent=2,
                                     sort_keys=True))
    written.extend(_plots(out, rows))
    return written


def _plots(out: Path, rows: Sequence[dict[str, Any]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [r["hour"] for r in rows]
    paths = []
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(hours, [r["blind_emissions_t"] for r in rows], "o-", label="carbon-blind")
    ax.plot(hours, [r["carbon_emissions_t"] for r in rows], "s-", label="with ladder adders")
    ax.set_xlabel("hour")
    ax.set_ylabel("emissions (t CO2)")
    ax.set_title("PJM-5: hourly emissions")
    ax.legend()
    fig.tight_layout()
    paths.append(out / "pjm5_emissions.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharex=True)
    for ax, tech in zip(axes, ("pv", "wind", "gas"), strict=True):
        ax.plot(hours, [r[f"blind_{tech}_mwh"] for r in rows], "o-", label="carbon-blind")
        ax.plot(hours, [r[f"carbon_{tech}_mwh"] for r in rows], "s-", label="with adders")
        ax.set_title(f"{tech} use (MWh)")
        ax.set_xlabel("hour")
    axes[0].legend()
    fig.tight_layout()
    paths.append(out / "pjm5_use.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    paths.append(_allocation_map(plt, out / "pjm5_allocation_map.png", rows))
    return paths


def _allocation_map(plt: Any, path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """The paper's space-time maps: allocation (t CO2) of every entity in every hour,
    one panel per type, on a diverging scale centred on zero."""
    import numpy as np
    from matplotlib.colors import TwoSlopeNorm

    ids = list(rows[0]["allocation_t"])
    gens = [e for e in ids if rows[0]["sides"][e] == "gen"]
    loads = [e for e in ids if rows[0]["sides"][e] == "load"]
    hours = [r["hour"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, title, names in ((axes[0], "generators", gens), (axes[1], "loads", loads)):
        grid = np.array([[r["allocation_t"][e] for r in rows] for e in names])
        lo, hi = float(grid.min(initial=0.0)), float(grid.max(initial=0.0))
        norm = TwoSlopeNorm(0.0, min(lo, -1e-9), max(hi, 1e-9))
        im = ax.imshow(grid, aspect="auto", cmap="RdBu_r", norm=norm)
        ax.set_yticks(range(len(names)), names)
        ax.set_xticks(range(len(hours)), [str(h) for h in hours], fontsize=7)
        ax.set_xlabel("hour")
        ax.set_title(f"Owen allocation, {title} (t CO2)")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
