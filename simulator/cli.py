"""``carbon-edge sim run``: a whole simulated substation day (what `make sim` runs).

A broker, the simulated meters and batteries, N gateways running the firmware
on the MicroPython unix port, and the edge hub with the simulated PL,
accelerated so that 96 intervals take a few minutes (simulator/substation.py).
Prints a report; exit 0 when the chain verifies and every interval cleared,
1 otherwise, 2 when a part is missing. ``python -m simulator run`` is the
same command.
"""

from __future__ import annotations

import argparse
import json
import sys

from edge.cli import EXIT_FAIL, EXIT_OK, UsageError


def _text(r: dict) -> str:
    p = r["price_micro_per_kwh"]
    return "\n".join([
        f"intervals cleared {r['intervals_cleared']}, traded {r['intervals_traded']}",
        f"energy traded {r['energy_traded_wh'] / 1000:.1f} kWh",
        f"price (micro-currency/kWh) min {p['min']} mean {p['mean']} max {p['max']}",
        f"messages accepted {r['accepted']}",
        f"messages rejected {r['rejected'] or 'none'}",
        f"blocks {r['blocks']}, chain verify {'ok' if r['chain_verify_ok'] else 'FAILED'}"
        + (f" ({r['chain_problem']})" if r["chain_problem"] else ""),
    ])


def cmd_run(a: argparse.Namespace) -> int:
    from simulator.substation import Scenario, SimError, run_day

    if not 1 <= a.gateways <= 50 or not 0 <= a.batteries <= a.gateways or a.intervals < 1:
        raise UsageError("need 1-50 gateways, at most one battery per gateway, "
                         "and at least 1 interval")
    sc = Scenario(gateways=a.gateways, batteries=a.batteries, intervals=a.intervals,
                  wall_s_per_interval=a.wall_s_per_interval, status_port=a.status_port)
    try:
        report = run_day(sc, keep=a.keep, progress=lambda m: print(m, file=sys.stderr,
                                                                   flush=True))
    except SimError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(report, indent=2) if a.json else _text(report))
    ok = report["chain_verify_ok"] and report["intervals_cleared"] >= a.intervals
    return EXIT_OK if ok else EXIT_FAIL


def register(parser: argparse.ArgumentParser) -> None:
    from simulator.substation import Scenario

    d = Scenario()
    sub = parser.add_subparsers(metavar="ACTION")
    p = sub.add_parser("run", help="run a whole simulated substation day")
    p.add_argument("--gateways", type=int, default=d.gateways)
    p.add_argument("--batteries", type=int, default=d.batteries)
    p.add_argument("--intervals", type=int, default=d.intervals, help="96 = one day")
    p.add_argument("--wall-s-per-interval", type=float, default=d.wall_s_per_interval,
                   help="wall seconds one 15-minute interval lasts (sets the acceleration)")
    p.add_argument("--status-port", type=int, default=0, help="status page port (0 = free)")
    p.add_argument("--keep", action="store_true", help="keep the working folder and logs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)
