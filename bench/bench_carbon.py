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
- series_<case>_<hours>h_2workers: a series of hourly snapshots (power flow,
                    trace and per-hour summary each) on a local Dask cluster of
                    2 workers, with the same series run serially as baseline
                    (results checked identical); per-snapshot seconds.
The full run uses case9241pegase (9241 buses, about 24k nodes with the
virtual loss nodes) and a year of 8,760 hourly snapshots for the series
(over an hour serially on 2 cores); ``--quick`` uses case118 and 48 hours of
case33bw.
"""

from __future__ import annotations

import argparse
import math
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
from hub.carbon.series import trace_series  # noqa: E402
from hub.carbon.snapshot import apply_snapshot, parse_snapshot  # noqa: E402
from hub.cluster import dask_client  # noqa: E402


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
                    help="hours of the series (default: 8760 in full mode, 48 quick)")
    a = ap.parse_args()
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
    series(a.quick, a.series_hours)


def series(quick: bool, hours: int | None = None) -> None:
    """Serial vs 2 local Dask workers on the same series (identical results checked)."""
    case, default = ("case33bw", 48) if quick else ("case9241pegase", 8760)
    hours = hours or default
    prof = {"load": [0.8 + 0.2 * math.sin(2 * math.pi * (h % 24) / 24) for h in range(hours)]}
    t = time.perf_counter()
    serial = trace_series(load_case(case), prof, name=case, bus_intensities=False)
    ts = (time.perf_counter() - t) / hours
    with dask_client(workers=2) as client:
        t = time.perf_counter()
        spread = trace_series(load_case(case), prof, name=case, client=client,
                              bus_intensities=False)
        tp = (time.perf_counter() - t) / hours
    assert spread.model_dump() == serial.model_dump()
    line("carbon", f"series_{case}_{hours}h_2workers", tp, "s/snapshot", baseline=ts,
         target="ratio<=0.6")


if __name__ == "__main__":
    main()
