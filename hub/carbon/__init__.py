"""Carbon-emission flow tracing in a power network (SEEDS P3).

The library API, for the command line, the hub's service and other parts:

- ``report_network(net, snapshot, name)`` -> ``CarbonFlowReport`` (JSON-ready)
- ``trace_network(net, snapshot)`` -> ``Traced`` (numpy arrays, for analysis)
- ``trace_series(net, profile, snapshot, name)`` -> ``SeriesReport``
- ``load_case(name)`` / ``load_network_json(text)`` build networks
- ``OutsourcedSolver`` plugs privacy-preserving outsourcing into any trace
- ``coal_intensity_t_per_mwh(unit, p_mw)`` is the PECC coal-unit model
"""

from hub.carbon.analysis import Traced, report_network, trace_network, trace_solved
from hub.carbon.errors import CarbonInputError, Reason
from hub.carbon.networks import builtin_cases, load_case, load_network_json, network_to_json
from hub.carbon.outsourcing import HonestProvider, OutsourcedSolver, Provider
from hub.carbon.pecc import CoalUnit, OperatingState, coal_intensity_t_per_mwh
from hub.carbon.report import CarbonFlowReport
from hub.carbon.series import Profile, SeriesReport, trace_series
from hub.carbon.snapshot import Snapshot

__all__ = [
    "CarbonFlowReport", "CarbonInputError", "CoalUnit", "HonestProvider", "OperatingState",
    "OutsourcedSolver", "Profile", "Provider", "Reason", "SeriesReport", "Snapshot", "Traced",
    "builtin_cases", "coal_intensity_t_per_mwh", "load_case", "load_network_json",
    "network_to_json", "report_network", "trace_network", "trace_series", "trace_solved",
]
