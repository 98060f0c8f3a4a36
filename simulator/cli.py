"""``carbon-edge sim``: run a whole simulated day of the system and write its report.

``carbon-edge sim run`` (also ``python -m simulator run`` and ``make sim``)
starts, on loopback, the hub and per substation a broker, the simulated
devices, one firmware process per gateway and an edge, runs one scenario's
day on an accelerated clock, checks the invariants, and writes a run folder
whose report path it prints last. Exit codes: 0 every invariant holds, 1 an
invariant broke, 2 a part is missing or the scenario is wrong, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.cli import EXIT_FAIL, EXIT_OK, UsageError
from edge.cliargs import bounded_int

EPILOG = """examples:
  carbon-edge sim run                                # the default day (ieee33-pv)
  carbon-edge sim run --scenario green-p2p
  carbon-edge sim run --intervals 8 --start 10:00    # a short day around noon
  carbon-edge sim list
  carbon-edge sim replay sim-out/ieee33-pv-20240621-120000   # rebuild the chains"""


def cmd_list(a: argparse.Namespace) -> int:
    from simulator.scenario import load_scenario, shipped

    rows = [(name, load_scenario(name)) for name in shipped()]
    if a.json:
        print(json.dumps([{"name": n, "description": s.description,
                           "substations": len(s.substations), "gateways": len(s.gateways),
                           "intervals": s.day.intervals} for n, s in rows], indent=2))
        return EXIT_OK
    print(f"{'scenario':14} {'substations':>11} {'gateways':>8} {'intervals':>9}  description")
    for n, s in rows:
        print(f"{n:14} {len(s.substations):>11} {len(s.gateways):>8} {s.day.intervals:>9}  "
              f"{s.description}")
    return EXIT_OK


def cmd_run(a: argparse.Namespace) -> int:
    from hub.progress import Progress
    from simulator.day import SimError, default_out, run_scenario, summary
    from simulator.scenario import Day, ScenarioError, load_scenario

    try:
        sc = load_scenario(a.scenario)
        if a.intervals is not None or a.start is not None:
            sc = sc.shortened(a.intervals, a.start)
        if a.lockstep:
            day = Day.model_validate({**sc.day.model_dump(), "lockstep": True})
            sc = sc.model_copy(update={"day": day})
    except (ScenarioError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    out = a.out or default_out(sc)
    progress = Progress(sc.day.intervals, "interval", enabled=not a.quiet, log_every_s=10)
    try:
        rec = run_scenario(sc, out, a.hub_db, progress)
    except SimError as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        print("carbon-edge sim: interrupted; every part was stopped", file=sys.stderr)
        return 130
    print(json.dumps(rec.to_json(), indent=1) if a.json else summary(rec))
    print(f"report: {out / 'report.html'}")
    return EXIT_OK if rec.ok else EXIT_FAIL


def cmd_replay(a: argparse.Namespace) -> int:
    from edge.runtime.journal import JournalError
    from simulator.replay import RunFolderError, replay_run

    try:
        outcomes = replay_run(a.run_dir)
    except (RunFolderError, JournalError) as exc:
        raise UsageError(str(exc)) from None
    for sub, o in outcomes.items():
        if o.identical:
            print(f"{sub}: {o.blocks} blocks identical ({o.lines} journal lines)")
        else:
            assert o.divergence is not None
            print(f"{sub}: {o.divergence.sentence()}", file=sys.stderr)
    return EXIT_OK if all(o.identical for o in outcomes.values()) else EXIT_FAIL


def cmd_compare(a: argparse.Namespace) -> int:
    from simulator.compare import CompareError, clearing, differences

    try:
        first, second = clearing(a.first), clearing(a.second)
    except (CompareError, OSError) as exc:
        raise UsageError(str(exc)) from None
    diff = differences(first, second)
    rows = {n: sum(1 for f, _ in first if f == n) for n in ("intervals.csv", "gateways.csv")}
    if not diff:
        print(f"same clearing: {rows['intervals.csv']} substation-intervals, "
              f"{rows['gateways.csv']} gateway-intervals")
        return EXIT_OK
    for line in diff[:a.limit]:
        print(line)
    print(f"{len(diff)} rows differ", file=sys.stderr)
    return EXIT_FAIL


def register(parser: argparse.ArgumentParser) -> None:
    from simulator.scenario import DEFAULT

    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(metavar="ACTION")
    p = sub.add_parser("run", help="run one scenario's day and write its report",
                       description="Run one scenario's day on loopback and write its report.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default=DEFAULT,
                   help=f"a shipped scenario's name (see `list`) or a .toml file "
                        f"(default: {DEFAULT})")
    p.add_argument("--intervals", type=int, help="run only this many intervals")
    p.add_argument("--start", help="HH:MM of the first interval, market time (UTC)")
    p.add_argument("--lockstep", action="store_true",
                   help="one stepped market clock for every part ([day] lockstep): the same "
                        "seed gives the same clearing")
    p.add_argument("--hub-db", help="the hub's database URL (default: SQLite in the run folder)")
    p.add_argument("--out", type=Path, help="run folder (default: sim-out/NAME-TIMESTAMP)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("list", help="list the shipped scenarios",
                       description="List the shipped scenarios.",
                       epilog="example:\n  carbon-edge sim list --json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("replay", help="rebuild each edge's chain from its journal and compare",
                       description="Rebuild each edge's chain of a run folder from its input "
                                   "journal and compare every block hash with the recorded "
                                   "chain. Exit 0 identical, 1 diverged (one line per edge "
                                   "saying where), 2 not a run folder.",
                       epilog="example:\n  carbon-edge sim replay sim-out/ieee33-pv-20240621-"
                              "120000",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder of `sim run`")
    p.set_defaults(func=cmd_replay)
    p = sub.add_parser("compare", help="compare two runs' clearing results (same-seed check)",
                       description="Compare the clearing results of two run folders: rounds, "
                                   "price, volume and regime per interval, side, energy and "
                                   "money per gateway. Exit 0 the same, 1 a row differs (each "
                                   "printed), 2 not run folders.",
                       epilog="example:\n  carbon-edge sim compare sim-out/a sim-out/b",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("first", type=Path, metavar="RUN_A", help="a run folder of `sim run`")
    p.add_argument("second", type=Path, metavar="RUN_B", help="another run folder")
    p.add_argument("--limit", type=bounded_int(1, 100_000), default=50, metavar="N",
                   help="print at most N differing rows (default: 50)")
    p.set_defaults(func=cmd_compare)
