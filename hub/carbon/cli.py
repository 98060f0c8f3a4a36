"""``carbon-edge carbon ...``: carbon-emission flow tracing from the command line.

JSON files in, JSON out (``--json``); without ``--json`` a short summary for
people. Bad input is one sentence on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from edge.cli import UsageError, emit
from edge.cliargs import leaf
from hub.carbon.analysis import report_network
from hub.carbon.errors import CarbonInputError, Reason, count
from hub.carbon.networks import builtin_cases, load_case, load_network_json
from hub.carbon.outsourcing import HonestProvider, OutsourcedSolver
from hub.carbon.pecc import CoalUnit, coal_consumption_g_per_kwh, coal_intensity_t_per_mwh
from hub.carbon.report import CarbonFlowReport
from hub.carbon.series import SeriesReport, parse_profile, trace_series
from hub.cluster import cluster_args, dask_client
from hub.progress import Progress


def _read_json(path: str, what: str, reason: Reason) -> Any:
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CarbonInputError(
            reason, f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})", what
        ) from None


def _network(args: argparse.Namespace):
    if args.case and args.network:
        raise UsageError("give either --case or --network, not both")
    if args.case:
        return load_case(args.case), args.case
    if args.network:
        return load_network_json(Path(args.network).read_text(encoding="utf-8")), args.network
    raise UsageError("give a network: --case NAME (e.g. case33bw) or --network FILE.json")


def _summary(rep: CarbonFlowReport) -> str:
    t = rep.totals
    known = [b for b in rep.buses if b.intensity_t_per_mwh is not None]
    lines = [
        f"network {rep.network}: {len(rep.buses)} buses, {len(rep.branches)} branches",
        f"generation {t.generation_mw:.4f} MW, load {t.load_mw:.4f} MW, "
        f"losses {t.loss_mw:.4f} MW, min voltage {t.min_vm_pu} pu",
        f"generator emissions {t.generator_emissions_t_per_h:.6f} t/h "
        f"= load carbon {t.load_carbon_t_per_h:.6f} + loss carbon {t.loss_carbon_t_per_h:.6f}",
    ]
    if known:
        lo = min(known, key=lambda b: b.intensity_t_per_mwh)
        hi = max(known, key=lambda b: b.intensity_t_per_mwh)
        lines.append(f"nodal intensity {lo.intensity_g_per_kwh} g/kWh (bus {lo.bus}) .. "
                     f"{hi.intensity_g_per_kwh} g/kWh (bus {hi.bus})")
    if rep.outsourcing:
        lines.append("outsourced: " + ", ".join(a.decided_by for a in rep.outsourcing))
    return "\n".join(lines)


def _trace(args: argparse.Namespace) -> int:
    try:
        net, name = _network(args)
        snap = _read_json(args.snapshot, "snapshot", Reason.BAD_SNAPSHOT) if args.snapshot else None
        solver = None
        if args.outsource:
            if args.outsource < 2:
                raise UsageError("--outsource needs at least 2 providers for the double check")
            solver = OutsourcedSolver([HonestProvider(f"provider-{k}")
                                       for k in range(args.outsource)])
        rep = report_network(net, snap, name=name, solver=solver, dc=args.dc)
    except CarbonInputError as exc:
        count(exc)
        raise UsageError(str(exc)) from None
    if solver is not None:
        rep.outsourcing = solver.audits
    emit(rep.model_dump(mode="json"), args.json, _summary(rep))
    return 0


def _series_summary(rep: SeriesReport) -> str:
    d = rep.day
    lines = [f"network {rep.network}: {d.hours_traced}/{len(rep.hours)} hours traced"]
    for h in rep.hours:
        if h.totals is None:
            lines.append(f"  hour {h.hour:2d}: FAILED {h.error}")
        else:
            t = h.totals
            lines.append(f"  hour {h.hour:2d}: load {t.load_mw:10.4f} MW, emissions "
                         f"{t.generator_emissions_g_per_h} g/h, loss carbon "
                         f"{t.loss_carbon_g_per_h} g/h")
    lines.append(f"day: emissions {d.generator_emissions_g} g = load {d.load_carbon_g} g "
                 f"+ losses {d.loss_carbon_g} g")
    return "\n".join(lines)


#: the columns of `series --csv` before the per-bus intensities (units in the names)
CSV_COLUMNS = ("hour", "converged", "generation_mw", "load_mw", "loss_mw",
               "generator_emissions_g_per_h", "load_carbon_g_per_h", "loss_carbon_g_per_h")


def _write_series_csv(rep: SeriesReport, path: str) -> None:
    """One row per hour (blank cells for an hour that did not trace), then one column per
    bus: its intensity in g/kWh; for a spreadsheet, not for reading back."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*CSV_COLUMNS, *(f"bus_{b}_g_per_kwh" for b in rep.buses)])
        for h in rep.hours:
            t = h.totals.model_dump() if h.totals is not None else {}
            ints = h.bus_intensity_g_per_kwh or [None] * len(rep.buses)
            w.writerow([h.hour, int(h.converged), *(t.get(c, "") for c in CSV_COLUMNS[2:]),
                        *("" if v is None else v for v in ints)])


def _series(args: argparse.Namespace) -> int:
    try:
        net, name = _network(args)
        prof = parse_profile(_read_json(args.profile, "profile", Reason.BAD_PROFILE))
        snap = _read_json(args.snapshot, "snapshot", Reason.BAD_SNAPSHOT) if args.snapshot else None
        with (dask_client(args.workers, args.scheduler) as client,
              Progress(len(prof.load), "hour", enabled=not args.json, desc=name) as bar):
            rep = trace_series(net, prof, snap, name=name, dc=args.dc, client=client,
                               on_hours=bar.advance)
    except CarbonInputError as exc:
        count(exc)
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"--scheduler: cannot reach {args.scheduler} ({exc})") from None
    if args.csv:
        _write_series_csv(rep, args.csv)
    emit(rep.model_dump(mode="json"), args.json, _series_summary(rep))
    return 0 if rep.day.hours_traced == len(rep.hours) else 1


def _pecc(args: argparse.Namespace) -> int:
    try:
        raw = _read_json(args.unit, "unit", Reason.BAD_SNAPSHOT)
        try:
            unit = CoalUnit.model_validate(raw)
        except Exception as exc:
            raise CarbonInputError(Reason.BAD_SNAPSHOT, str(exc).splitlines()[-1], "unit") from None
    except CarbonInputError as exc:
        count(exc)
        raise UsageError(str(exc)) from None
    if not np.isfinite(args.p_mw) or args.p_mw < 0:
        raise UsageError("--p-mw must be a finite output >= 0")
    w = coal_consumption_g_per_kwh(unit, args.p_mw)
    e = coal_intensity_t_per_mwh(unit, args.p_mw)
    out = {"p_mw": args.p_mw, "state": unit.state.value, "delta": unit.state.delta,
           "coal_g_per_kwh": w, "intensity_t_per_mwh": e,
           "intensity_g_per_kwh": int(round(e * 1000))}
    emit(out, args.json, f"w = {w:.3f} g coal/kWh, E = {e:.6f} t CO2/MWh ({unit.state.value})")
    return 0


def _cases(args: argparse.Namespace) -> int:
    cases = list(builtin_cases())
    emit(cases, args.json, "\n".join(cases))
    return 0


def _network_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", help="a pandapower built-in case, e.g. case33bw, case118")
    p.add_argument("--network", help="a network as pandapower JSON (pandapower.to_json)")
    p.add_argument("--snapshot", help="snapshot JSON: loads, outputs, intensities")
    p.add_argument("--dc", action="store_true",
                   help="DC power flow (pandapower rundcpp: lossless) instead of AC")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    p = leaf(sub, "trace", "trace one snapshot (AC power flow + proportional sharing)",
             "carbon-edge carbon trace --case case33bw",
             "carbon-edge carbon trace --case case9 "
             "--snapshot docs/examples/carbon/snapshot-case9-coal.json")
    _network_args(p)
    p.add_argument("--outsource", type=int, default=0, metavar="N",
                   help="solve through N masked in-process providers with the double check")
    p.set_defaults(func=_trace)
    p = leaf(sub, "series", "trace 24 hourly scalings of a snapshot",
             "carbon-edge carbon series --case case9 "
             "--profile docs/examples/carbon/profile-day.json --csv day.csv")
    _network_args(p)
    p.add_argument("--profile", required=True,
                   help="profile JSON: hourly load (sgen, gen) scalings, 1 to 8784 hours")
    cluster_args(p)
    p.add_argument("--csv", metavar="FILE", help="also write the hours as CSV to FILE")
    p.set_defaults(func=_series)
    p = leaf(sub, "pecc", "intensity of a coal unit from its consumption curve",
             "carbon-edge carbon pecc --unit docs/examples/carbon/coal-unit.json --p-mw 300")
    p.add_argument("--unit", required=True, help="coal unit JSON: a, b, c, mu, phi, theta, state")
    p.add_argument("--p-mw", type=float, required=True, help="the unit's output, MW")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_pecc)
    p = leaf(sub, "cases", "list pandapower's built-in cases", "carbon-edge carbon cases")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cases)
