"""Carbon-flow tracing (P3) against the AC power flow it runs on.

Prints JSON lines {"bench", "case", "value", "unit", "baseline", "ratio", "target"}:
- runpp_<case>:     pandapower's Newton-Raphson power flow, seconds (median);
- trace_<case>:     what tracing adds after the power flow (flow graph from the
                    results, intensities, sparse A_u, SuperLU factorisation,
                    two solves, every per-node/branch/load result), with runpp
                    as baseline; target: ratio <= 0.5;
- report_<case>:    turning that into the JSON-ready pydantic report (grams
                    apportioned), runpp as baseline, for information;
- path_<case>:      the whole user-facing path of one snapshot after the power
                    flow: snapshot applied, trace, full report; runpp as
                    baseline; target: ratio <= 0.5;
- outsourced_<case>: the trace solved through two masked providers with the
                    double check, with the local trace as baseline;
- series_<case>_serial: a series of hourly snapshots traced serially (power
                    flow warm-started from the hour before, trace and
                    per-hour summary each), seconds per snapshot, with runpp
                    of the same run (a cold start) as baseline (the ratio is
                    a snapshot's whole cost in power flows); ``hours`` says
                    how many snapshots were timed, ``hours_cold`` how many
                    power flows started cold (each chunk's first hour, and
                    retries);
- series_<case>_<hours>h_2workers: the same series on a local Dask cluster of
                    2 workers, per-snapshot seconds, with the serial
                    per-snapshot time as baseline; ``serial_hours`` says on
                    how many of its hours the serial run was timed (the
                    first ones; their results are checked identical),
                    ``vs_runpp`` is the per-snapshot time over runpp;
                    ``hours_failed`` counts hours whose power flow did not
                    converge (reported as failed, still timed);
- year_<case>_2workers: the wall time of a year (8,760 snapshots) on 2
                    workers: measured when the series above is the year
                    (``--year``), otherwise projected from its per-snapshot
                    time (marked as an estimate). The workers import the
                    library and trace a small series before the clock
                    starts (seconds, once); each
                    timed series still pays the network's scatter, a copy
                    per chunk and each chunk's cold first hour, which a
                    48-hour series (two chunks) amortises far worse than a
                    year, so the projection errs high.
The series' profile scales loads, gens and sgens together by
0.8 + 0.2 sin(2 pi h / 24) (generation follows demand; scaling the loads
alone leaves the slack to absorb up to 40% of the load, and below 0.815 of
the load case9241pegase has no power-flow solution: its voltage collapses).
The full run uses case9241pegase (9241 buses, about 24k nodes with the
virtual loss nodes) and times the series on 48 hours, projecting the year;
``--year`` (``make bench ONLY=carbon YEAR=1``) runs the year on 2 workers
(hours on 2 cores; ~9 GB of per-consumer results if they were kept, so the
series folds them as they come), with the serial baseline on its first
``--serial-hours`` (default 168). ``--quick`` uses case118 and 48 hours of
case33bw. The series show a bar of hours on a terminal; with BENCH_PROGRESS=1
(bench/run_all.py on a terminal) they write "hour n/N" lines to stderr
every few seconds instead, for run_all's bar.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import line  # noqa: E402
from hub.carbon.analysis import run_power_flow, trace_solved  # noqa: E402
from hub.carbon.networks import load_case  # noqa: E402
from hub.carbon.outsourcing import HonestProvider, OutsourcedSolver  # noqa: E402
from hub.carbon.report import build_report  # noqa: E402
from hub.carbon.series import MAX_HOURS, trace_series  # noqa: E402
from hub.carbon.snapshot import apply_snapshot, parse_snapshot  # noqa: E402
from hub.cluster import dask_client  # noqa: E402
from hub.progress import Progress  # noqa: E402

#: Hours of the benchmark's year.
YEAR = 8760


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes: runs in seconds")
    ap.add_argument("--series-hours", type=int, default=None,
                    help="hours of the 2-worker series (default 48; --year: 8760)")
    ap.add_argument("--serial-hours", type=int, default=None,
                    help="hours of the serial baseline, the series' first ones "
                         "(default: all of them; --year: 168)")
    ap.add_argument("--year", action="store_true",
                    help="trace a year (8,760 snapshots) on 2 workers")
    a = ap.parse_args()
    if a.year and a.quick:
        ap.error("--year and --quick exclude each other")
    warnings.simplefilter("ignore")
    case = "case118" if a.quick else "case9241pegase"
    repeat = 7
    net = load_case(case)
    snap = parse_snapshot({"gens": {str(i): {"t_per_mwh": 0.4 + (i % 7) * 0.1}
                                    for i in net.gen.index}})
    run_power_flow(net)  # warm-up: pandapower builds its lookups on the first run
    pf = median_time(lambda: run_power_flow(net), repeat)
    traced = trace_solved(net, snap)
    tr = median_time(lambda: trace_solved(net, snap), repeat)
    rp = median_time(lambda: build_report(case, traced.graph, traced.flow, traced.vm_pu),
                     max(3, repeat // 2))
    nodes = traced.graph.n_nodes
    line("carbon", f"runpp_{case}", pf, "s", buses=len(net.bus))
    line("carbon", f"trace_{case}", tr, "s", baseline=pf, target="ratio<=0.5", nodes=nodes)
    line("carbon", f"report_{case}", rp, "s", baseline=pf)

    def path():
        apply_snapshot(net, snap)
        t = trace_solved(net, snap)
        build_report(case, t.graph, t.flow, t.vm_pu)

    whole = median_time(path, max(3, repeat // 2))
    line("carbon", f"path_{case}", whole, "s", baseline=pf, target="ratio<=0.5")
    solver = OutsourcedSolver([HonestProvider("p1"), HonestProvider("p2")])
    out = median_time(lambda: trace_solved(net, snap, solver), 3)
    assert all(au.decided_by == "providers" for au in solver.audits)
    line("carbon", f"outsourced_{case}", out, "s", baseline=tr)
    hours = a.series_hours or (YEAR if a.year else 48)
    serial_hours = a.serial_hours or (min(168, hours) if a.year else hours)
    if not 1 <= serial_hours <= hours <= MAX_HOURS:
        ap.error(f"need 1 <= --serial-hours <= --series-hours <= {MAX_HOURS}")
    series(a.quick, hours, serial_hours, None if a.quick else pf)


def _warm_worker() -> None:
    """Run on each worker before the clock starts: pandapower and the tracer imported and
    one small series traced, so the modules pandapower loads on its first power flow and
    the solver's first-call set-up are not counted as a snapshot's cost."""
    from hub.carbon.series import trace_series

    trace_series(load_case("case33bw"), {"load": [1.0, 0.9]}, name="warm-up",
                 bus_intensities=False)


def series(quick: bool, hours: int, serial_hours: int, runpp_s: float | None) -> None:
    """Serial (first ``serial_hours``) vs 2 local Dask workers (all ``hours``), same results.

    ``runpp_s`` is the power flow's time on the same case in the same run
    (None in quick mode, whose series runs on another case).
    """
    case = "case33bw" if quick else "case9241pegase"
    k = [0.8 + 0.2 * math.sin(2 * math.pi * (h % 24) / 24) for h in range(hours)]
    prof = {"load": k, "gen": k, "sgen": k}
    sub = {t: v[:serial_hours] for t, v in prof.items()}
    log_every = 5.0 if os.environ.get("BENCH_PROGRESS") == "1" else None
    with Progress(serial_hours, "hour", desc="serial", log_every_s=log_every) as bar:
        t = time.perf_counter()
        serial = trace_series(load_case(case), sub, name=case, bus_intensities=False,
                              on_hours=bar.advance)
        ts = (time.perf_counter() - t) / serial_hours
    line("carbon", f"series_{case}_serial", ts, "s/snapshot", baseline=runpp_s,
         hours=serial_hours, hours_failed=serial_hours - serial.day.hours_traced,
         hours_cold=sum(h.start == "cold" for h in serial.hours))
    with dask_client(workers=2) as client, \
            Progress(hours, "hour", desc="2 workers", log_every_s=log_every) as bar:
        client.run(_warm_worker)  # a one-off of seconds per worker, not a snapshot's cost
        t = time.perf_counter()
        spread = trace_series(load_case(case), prof, name=case, client=client,
                              bus_intensities=False, on_hours=bar.advance)
        wall = time.perf_counter() - t
    tp = wall / hours
    # chunks start at the same hours serially and on the cluster, each cold: the
    # overlap must be identical, warm starts included
    assert [h.model_dump() for h in spread.hours[:serial_hours]] == \
        [h.model_dump() for h in serial.hours]
    if serial_hours == hours:
        assert spread.model_dump() == serial.model_dump()
    line("carbon", f"series_{case}_{hours}h_2workers", tp, "s/snapshot", baseline=ts,
         target="ratio<=0.6", hours=hours, serial_hours=serial_hours,
         vs_runpp=None if runpp_s is None else round(tp / runpp_s, 4),
         hours_failed=hours - spread.day.hours_traced,
         hours_cold=sum(h.start == "cold" for h in spread.hours))
    line("carbon", f"year_{case}_2workers", wall if hours == YEAR else tp * YEAR, "s",
         estimate=hours != YEAR, hours_measured=hours)


if __name__ == "__main__":
    main()
