"""``carbon-edge owen value|prices|pjm5``: Owen values, ladder prices, the PJM-5 study.

JSON files in, JSON out (``--json``); formats in docs/owen.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge.cli import EXIT_OK, UsageError, emit
from edge.cliargs import leaf
from hub.allocation.game import GameError
from hub.allocation.ladder import Tiers, ladder, make_tiers
from hub.allocation.market import MarketGame
from hub.allocation.report import allocate, ladder_report, owen_report
from hub.allocation.schema import BAD_INPUT, count, game_from, parse_game
from hub.cluster import cluster_args


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--game", required=True, type=Path, help="game JSON (market or table)")
        p.add_argument("--method", choices=("auto", "exact", "sampled"), default="auto",
                       help="exact, sampled, or chosen by the game's size")
        p.add_argument("--rounds", type=int, default=8, help="sampler rounds (at least 2)")
        p.add_argument("--seed", type=int, default=0, help="sampler seed")
        p.add_argument("--target-se", type=float, default=None, metavar="REL",
                       help="sample until every SE <= REL * |v(N)| (e.g. 0.01)")
        p.add_argument("--entity-se", type=float, default=None, metavar="REL",
                       help="sample until 95%% of the entities have SE <= REL * |own value| "
                            "(e.g. 0.05; entities at v(N)/n are left out and listed)")
        cluster_args(p)
        p.add_argument("--json", action="store_true", help="print JSON")

    p = leaf(sub, "value", "Owen values of a game",
             "carbon-edge owen value --game docs/examples/owen/market.json",
             "carbon-edge owen value --game docs/examples/owen/table.json --method sampled")
    common(p)
    p.set_defaults(func=cmd_value)

    p = leaf(sub, "prices", "ladder carbon price, adders, revised quotations",
             "carbon-edge owen prices --game docs/examples/owen/market.json --p-low 20 --p-high 40")
    common(p)
    _tier_args(p)
    p.add_argument("--interval", default="", help="interval label put in the price signal")
    p.set_defaults(func=cmd_prices)

    p = leaf(sub, "pjm5", "24 hourly PJM-5 markets with and without carbon adders",
             "carbon-edge owen pjm5 --out pjm5-out --hours 8,12,18")
    p.add_argument("--out", required=True, type=Path, help="folder for CSV, JSON and PNG")
    p.add_argument("--hours", default="0-23", help="hours, e.g. 0-23 or 8,12,18")
    p.add_argument("--method", choices=("auto", "exact", "sampled"), default="auto",
                   help="exact, sampled, or chosen by the game's size")
    p.add_argument("--renewable-offer", default=None, metavar="USD_PER_MWH",
                   help="offer of every PV and wind unit in $/MWh (default: the data's)")
    _tier_args(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_pjm5)


def _tier_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--p-low", default="20", help="$/t between a_min and a_avg (default 20)")
    p.add_argument("--p-high", default="40", help="$/t above a_avg (default 40)")
    p.add_argument("--tiers", default=None, metavar="F:P,...",
                   help="general tiers, e.g. 0:20,1:40,2:80 (F in units of a_avg - a_min)")


def _tiers(args: argparse.Namespace) -> Tiers:
    try:
        if args.tiers:
            pairs = [t.split(":") for t in args.tiers.split(",")]
            return make_tiers(tiers=pairs)
        return make_tiers(args.p_low, args.p_high)
    except ValueError as exc:
        BAD_INPUT.labels(field="tiers").inc()
        raise UsageError(f"--tiers/--p-low/--p-high: {exc}") from None


def _load(args: argparse.Namespace) -> Any:
    try:
        data = json.loads(args.game.read_text())
    except json.JSONDecodeError as exc:
        BAD_INPUT.labels(field="json").inc()
        raise UsageError(f"{args.game}: not valid JSON ({exc})") from None
    if args.rounds < 2:
        raise UsageError("--rounds must be at least 2")
    try:
        return game_from(parse_game(data))
    except GameError as exc:
        count(exc)
        raise UsageError(f"{args.game}: {exc}") from None


def _allocate(args: argparse.Namespace, game: Any) -> Any:
    from hub.cluster import dask_client

    if args.entity_se is not None and not args.entity_se > 0:
        raise UsageError("--entity-se must be > 0")
    if args.workers < 0:
        raise UsageError("--workers must be >= 0")
    try:
        with dask_client(args.workers, args.scheduler) as client:
            return allocate(game, args.method, args.rounds, args.seed, args.target_se,
                            args.entity_se, client)
    except GameError as exc:
        count(exc)
        raise UsageError(f"{args.game}: {exc}") from None
    except OSError as exc:
        raise UsageError(f"--scheduler: cannot reach {args.scheduler} ({exc})") from None


def cmd_value(args: argparse.Namespace) -> int:
    game = _load(args)
    rep = owen_report(game, _allocate(args, game))
    lines = [f"Owen values ({rep['method']}, {rep['unit']}); v(N) = {rep['grand_value']:.6g}"]
    for p in rep["players"]:
        se = f"  +- {p['se']:.4g}" if "se" in p else ""
        lines.append(f"  {p['union']:>8}  {p['id']:<16} {p['value']:>16.6f}{se}")
    for u in rep["unions"]:
        lines.append(f"  union {u['id']}: {u['value']:.6f}")
    emit(rep, args.json, "\n".join(lines))
    return EXIT_OK


def cmd_prices(args: argparse.Namespace) -> int:
    game = _load(args)
    if not isinstance(game, MarketGame):
        raise UsageError(f"{args.game}: ladder prices need a game in market form")
    tiers = _tiers(args)
    res = _allocate(args, game)
    rep = ladder_report(game, res, ladder(game.market, res, tiers), tiers, args.interval)
    lines = [f"{'entity':<16} {'side':<5} {'alloc g':>14} {'adder':>8} {'price':>9} "
             f"{'new':>9} {'blind Wh':>12} {'revised Wh':>12}"]
    for e in rep["entities"]:
        lines.append(f"{e['id']:<16} {e['side']:<5} {e['allocation_g']:>14.3f} {e['adder']:>8} "
                     f"{e['price']:>9} {e['new_price']:>9} {e['cleared_blind_wh']:>12} "
                     f"{e['cleared_revised_wh']:>12}")
    lines.append(f"emissions: {rep['blind']['emissions_g']:.3f} g carbon-blind, "
                 f"{rep['revised']['emissions_g']:.3f} g with adders")
    emit(rep, args.json, "\n".join(lines))
    return EXIT_OK


def _hours(text: str) -> list[int]:
    try:
        out: list[int] = []
        for part in text.split(","):
            a, _, b = part.partition("-")
            out.extend(range(int(a), int(b) + 1) if b else [int(a)])
    except ValueError:
        raise UsageError(f"--hours: {text!r} is not a list like 0-23 or 8,12,18") from None
    if not out or any(not 0 <= h <= 23 for h in out):
        raise UsageError(f"--hours: {text!r} must name hours between 0 and 23")
    return out


def cmd_pjm5(args: argparse.Namespace) -> int:
    from hub.allocation.pjm5 import run_study, write_outputs
    from hub.progress import Progress

    hours = _hours(args.hours)
    tiers = _tiers(args)
    with Progress(len(hours), "hour", enabled=not args.json, desc="PJM-5") as bar:
        try:
            rows, summary = run_study(hours, tiers, args.method,
                                      renewable_offer=args.renewable_offer,
                                      on_hour=lambda h: bar.advance(facts=f"hour {h} done"))
        except (ValueError, ArithmeticError) as exc:
            raise UsageError(f"--renewable-offer: {exc}") from None
    files = write_outputs(args.out, rows, summary)
    summary = {**summary, "files": [str(f) for f in files]}
    t, c = summary["totals"], summary["change"]
    lines = [f"PJM-5, hours {args.hours}: carbon-blind vs ladder adders"]
    for k in ("emissions_t", "demand_mwh", "pv_mwh", "wind_mwh", "gas_mwh", "coal_mwh",
              "hydro_mwh"):
        lines.append(f"  {k:<12} {t['blind_' + k]:>12.1f} {t['carbon_' + k]:>12.1f} "
                     f"{c[k]:>+12.1f}")
    lines.append(f"  expected effect: {summary['expected_effect']}")
    al = summary["allocation"]
    lines.append(f"  hydro the generators' minimum in {len(al['hydro_minimum_hours'])} of "
                 f"{len(rows)} hours; renewables above it in "
                 f"{len(al['renewables_above_hydro_hours'])}")
    lines.append("  allocation vs cleared quantity (mean rank correlation): "
                 + ", ".join(f"{k} {v:+.2f}" for k, v in al["tracking_mean"].items()
                             if v is not None))
    lines.append("  wrote " + ", ".join(str(f) for f in files))
    emit(summary, args.json, "\n".join(lines))
    return EXIT_OK
