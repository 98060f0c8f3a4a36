"""Carbon-flow tracing (SEEDS P3) against the AC power flow it runs on.

Prints JSON lines {"bench", "case", "value", "unit", "baseline", "ratio", "target"}:
- runpp_<case>:     pandapower's Newton-Raphson power flow, seconds (median);
- trace_<case>:     what tracing adds after the power flow (flow graph from the
                    results, intensities, sparse A_u, SuperLU factorisation,
                    two solves, every per-node/branch/load result), with runpp
                    as baseline; target: ratio <= 0.5;
- report_<case>:    turning that into the JSON-ready pydantic report (grams
                    apportioned), runpp as baseline, for information;
- outsourced_<case>: the trace solved through two masked providers with the
                    double check, with the local trace as baseline.
The full run uses case9241pegase (9241 buses, about 24k nodes with the
virtual loss nodes); ``--quick`` uses case118.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import args, line  # noqa: E402
from hub.carbon.analysis import run_power_flow, trace_solved  # noqa: E402
from hub.carbon.networks import load_case  # noqa: E402
from hub.carbon.outsourcing import HonestProvider, OutsourcedSolver  # noqa: E402
from hub.carbon.report import build_report  # noqa: E402
from hub.carbon.snapshot import parse_snapshot  # noqa: E402


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    a = args(__doc__)
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
    solver = OutsourcedSolver([HonestProvider("p1"), HonestProvider("p2")])
    out = median_time(lambda: trace_solved(net, snap, solver), 3)
    assert all(au.decided_by == "providers" for au in solver.audits)
    line("carbon", f"outsourced_{case}", out, "s", baseline=tr)


if __name__ == "__main__":
    main()
