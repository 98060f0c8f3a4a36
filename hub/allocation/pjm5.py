"""The PJM five-bus study of SEEDS P1: 24 hourly markets, carbon-blind and with adders.

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
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from hub.allocation import dcopf
from hub.allocation.ladder import DEFAULT_TIERS, Tiers, ladder, round_half_up
from hub.allocation.market import Entity, Market, MarketGame
from hub.allocation.owen import owen

DATA = Path(__file__).resolve().parents[1] / "data" / "pjm5"
TECHS = ("pv", "wind", "gas", "coal", "hydro")


@dataclass(frozen=True)
class Scenario:
    network: dcopf.Network
    generators: list[dict[str, str]]
    loads: list[dict[str, str]]
    profiles: list[dict[str, str]]

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
    row["adders"] = lad.adders()
    row["allocation_t"] = {r.entity.id: float(r.allocation_g) / 1e6 for r in lad.rows}
    return row


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Totals over the hours and whether the seeds' expected effect shows."""
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
    }


def run_study(hours: Sequence[int], tiers: Tiers = DEFAULT_TIERS, method: str = "auto",
              seed: int = 0, folder: Path = DATA) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    sc = load_scenario(folder)
    rows = [run_hour(sc, h, tiers, method, seed) for h in hours]
    return rows, summarise(rows)


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
    return paths
