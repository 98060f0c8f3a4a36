"""Carbon-emission flow tracing in a power network (P3).

The library API, for the command line, the hub's service and other parts:

- ``report_network(net, snapshot, name)`` -> ``CarbonFlowReport`` (JSON-ready)
- ``trace_network(net, snapshot)`` -> ``Traced`` (numpy arrays, for analysis)
- ``trace_series(net, profile, snapshot, name)`` -> ``SeriesReport``
- ``load_case(name)`` / ``load_network_json(text)`` build networks
- ``OutsourcedSolver`` plugs privacy-preserving outsourcing into any trace
- ``coal_intensity_t_per_mwh(unit, p_mw)`` is the PECC coal-unit model
"""

import logging


class _NoNumbaNotice(logging.Filter):
    """Drop pandapower's import-time notice that numba is missing, and nothing else.

    It would precede every command's output and one-sentence errors; speed
    without numba is what bench/bench_carbon.py measures and reports.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("numba cannot be imported")


logging.getLogger("pandapower.auxiliary").addFilter(_NoNumbaNotice())

from hub.carbon.analysis import Traced, report_network, trace_network, trace_solved  # noqa: E402
from hub.carbon.errors import CarbonInputError, Reason  # noqa: E402
from hub.carbon.networks import builtin_cases, load_case, load_network_json, network_to_json  # noqa: E402
from hub.carbon.outsourcing import HonestProvider, OutsourcedSolver, Provider  # noqa: E402
from hub.carbon.pecc import CoalUnit, OperatingState, coal_intensity_t_per_mwh  # noqa: E402
from hub.carbon.report import CarbonFlowReport  # noqa: E402
from hub.carbon.series import Profile, SeriesReport, trace_series  # noqa: E402
from hub.carbon.snapshot import Snapshot  # noqa: E402

__all__ = [
    "CarbonFlowReport", "CarbonInputError", "CoalUnit", "HonestProvider", "OperatingState",
    "OutsourcedSolver", "Profile", "Provider", "Reason", "SeriesReport", "Snapshot", "Traced",
    "builtin_cases", "coal_intensity_t_per_mwh", "load_case", "load_network_json",
    "network_to_json", "report_network", "trace_network", "trace_series", "trace_solved",
]
