"""How much one request to the /carbon API may ask for, in one place.

A trace costs one AC power flow plus a sparse solve, roughly linear in the
network's size; a series costs 24 of them. The API therefore bounds the
network (buses, branches, element rows), the body that carries a user network,
and the series length, and serves only the built-in cases listed here: each
with its bus count, so the limits can be checked without loading anything and
OpenAPI can list the names. On the 2-core development machine the largest
admitted trace (case9241pegase) takes about 2 s and the largest admitted
series (case3120sp) about 6 s.

A user network is pandapower JSON, whose decoder imports the modules the JSON
names (``"_module": ...``) before it checks the class. ``foreign_module``
finds any module outside the few that pandapower itself writes, so the API
refuses such a body before pandapower sees it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hub.carbon.series import HOURS

#: pandapower's built-in cases and their bus counts (pandapower 3.5).
CASE_BUSES: dict[str, int] = {
    "case4gs": 4, "case5": 5, "case6ww": 6, "case9": 9, "case11_iwamoto": 11, "case14": 14,
    "case24_ieee_rts": 24, "case30": 30, "case_ieee30": 30, "case33bw": 33, "case39": 39,
    "case57": 57, "case89pegase": 89, "case118": 118, "case145": 145,
    "case_illinois200": 200, "case300": 300, "case1354pegase": 1354, "case1888rte": 1888,
    "case2848rte": 2848, "case2869pegase": 2869, "case3120sp": 3120, "case6470rte": 6470,
    "case6495rte": 6495, "case6515rte": 6515, "case9241pegase": 9241,
}

#: Tables whose rows are branches (they become edges of the flow graph).
BRANCH_TABLES = ("line", "trafo", "trafo3w", "impedance", "switch", "dcline")


@dataclass(frozen=True)
class CarbonLimits:
    """Per-request bounds of the /carbon routes (the defaults are the documented ones)."""

    #: Request body, bytes (413 above); case9241pegase as pandapower JSON is about 10 MB.
    max_body_bytes: int = 16 << 20
    #: Buses of the network of a trace.
    max_buses: int = 10_000
    #: Branches (lines, transformers, impedances, switches, DC lines) of a user network.
    max_branches: int = 20_000
    #: Rows of all element tables together (buses, branches, loads, gens, shunts...).
    max_elements: int = 50_000
    #: Buses of the network of a series (24 power flows).
    max_series_buses: int = 3_200
    #: Hours of a series: the profile has exactly this many factors.
    series_hours: int = HOURS
    #: Module prefixes a user network's JSON may name (what pandapower.to_json writes).
    allowed_modules: tuple[str, ...] = ("pandapower", "pandas", "numpy", "builtins")

    def trace_cases(self) -> tuple[str, ...]:
        return tuple(sorted(c for c, n in CASE_BUSES.items() if n <= self.max_buses))

    def series_cases(self) -> tuple[str, ...]:
        return tuple(sorted(c for c, n in CASE_BUSES.items() if n <= self.max_series_buses))


LIMITS = CarbonLimits()


class OverLimit(ValueError):
    """A request beyond a limit: the field, the limit's name and one sentence.

    Refusing one is counted in ``carbon_input_rejected_total{reason="over_limit"}`` by
    whoever answers it (``hub.carbon.errors.count``), next to the tracer's own refusals.
    """

    reason = "over_limit"

    def __init__(self, field: str, limit: str, detail: str, status: int = 422) -> None:
        self.field = field
        self.limit = limit
        self.detail = f"{detail} (limit {limit})"
        self.status = status
        super().__init__(f"{field}: {self.detail}")


def _module_names(obj: Any) -> Iterator[str]:
    """Every ``_module`` value in decoded JSON, including JSON nested in strings.

    pandapower keeps tables as JSON text inside the JSON, and decodes that text
    with the same hook, so every string that may be JSON is decoded and searched
    (whatever escapes spell its keys).
    """
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            mod = item.get("_module")
            if mod is not None:
                yield str(mod)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and item.lstrip()[:1] in ("{", "["):
            try:
                stack.append(json.loads(item))
            except ValueError:
                continue


def foreign_module(obj: Any, allowed: tuple[str, ...] = LIMITS.allowed_modules) -> str | None:
    """The first module named in a pandapower JSON document outside ``allowed``, else None."""
    for name in _module_names(obj):
        root = name.split(".", 1)[0]
        if root not in allowed:
            return name
    return None
