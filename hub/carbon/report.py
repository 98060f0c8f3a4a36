"""What a trace hands to people, the API and the chain: pydantic models.

Floats (MW, t CO2/MWh, t CO2/h) are for analysis. Every carbon quantity is
also given as an integer in g CO2/h (intensities in g CO2/kWh), the unit that
may leave the library for the chain. Integers that add up to a total are
rounded by largest remainders so that they add up exactly: the generators'
grams equal the loads' plus the losses' grams, which a naive per-item
rounding would break by a few grams and make the books look wrong.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from pydantic import BaseModel, Field

from hub.carbon.flowgraph import FlowGraph
from hub.carbon.outsourcing import Audit
from hub.carbon.tracing import CarbonFlow

#: t CO2/h -> g CO2/h, and t CO2/MWh -> g CO2/kWh.
G_PER_T = 1_000_000
G_PER_KWH_PER_T_PER_MWH = 1_000


def apportion(values: np.ndarray, total: int) -> np.ndarray:
    """Integers that sum to ``total``, each within 1 of its value (largest remainders).

    ``values`` must be >= 0 and ``total`` the rounded sum; the rounding error
    of the total is handed to the items with the largest fractional parts.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.isfinite(values).all() or float(values.max()) >= 2.0**63:
        raise OverflowError("a whole number beyond 64 bits")  # as _nullable: never wrapped
    floor = np.floor(values).astype(np.int64)
    short = int(total - floor.sum())
    if short > 0:
        order = np.argsort(-(values - floor), kind="stable")
        floor[order[:short]] += 1
    elif short < 0:  # only when total was rounded down below the floors' sum
        order = np.argsort(values - floor, kind="stable")
        floor[order[: -short]] -= 1
    return floor


def grams(t_per_h: float) -> int:
    """t CO2/h as whole g CO2/h."""
    return int(round(t_per_h * G_PER_T))


class BusCarbon(BaseModel):
    bus: int
    through_flow_mw: float | None = Field(description="gross through-flow P_i; null: dead bus")
    intensity_t_per_mwh: float | None = Field(description="nodal carbon intensity; null: no flow")
    intensity_g_per_kwh: int | None
    carbon_rate_t_per_h: float | None
    carbon_rate_g_per_h: int | None


class SourceCarbon(BaseModel):
    element: str = Field(description="pandapower table: ext_grid, gen, sgen, or a consumer")
    index: int
    bus: int
    p_mw: float
    intensity_t_per_mwh: float
    emission_t_per_h: float
    emission_g_per_h: int
    loss_carbon_t_per_h: float = Field(description="part of its emission that ends in losses")
    loss_carbon_g_per_h: int


class SinkCarbon(BaseModel):
    element: str = Field(description="pandapower table: load, shunt..., or a generator drawing")
    index: int
    bus: int
    p_mw: float
    carbon_t_per_h: float
    carbon_g_per_h: int


class BranchCarbon(BaseModel):
    element: str = Field(description="pandapower table: line, trafo, trafo3w, impedance...")
    index: int
    buses: list[int] = Field(description="its buses (from/to, hv/lv or hv/mv/lv)")
    p_mw: list[float] = Field(description="power into the branch at each of those buses")
    loss_mw: float
    carbon_in_t_per_h: float = Field(description="carbon flow entering at the sending end(s)")
    carbon_out_t_per_h: float = Field(description="carbon flow leaving at the receiving end(s)")
    carbon_in_g_per_h: int
    loss_carbon_t_per_h: float
    loss_carbon_g_per_h: int


class Totals(BaseModel):
    generation_mw: float
    load_mw: float
    loss_mw: float
    branch_gain_mw: float = Field(description="surplus of negative-loss branches (no carbon)")
    generator_emissions_t_per_h: float
    load_carbon_t_per_h: float
    loss_carbon_t_per_h: float
    generator_emissions_g_per_h: int
    load_carbon_g_per_h: int
    loss_carbon_g_per_h: int
    max_balance_error_mw: float = Field(description="largest power-flow mismatch of a node")
    min_vm_pu: float | None = None
    max_vm_pu: float | None = None


class CarbonFlowReport(BaseModel):
    """Carbon-emission flow of one snapshot (P3)."""

    network: str
    totals: Totals
    buses: list[BusCarbon]
    sources: list[SourceCarbon]
    sinks: list[SinkCarbon]
    branches: list[BranchCarbon]
    outsourcing: list[Audit] | None = Field(
        default=None, description="when the solve was outsourced: each cycle's checks"
    )


def _trusted_rows(model: type[BaseModel], rows: list[dict]) -> list[BaseModel]:
    """Row models built without validation, for rows this module made from typed arrays.

    Validating ~30k row dicts costs about as much as the power flow on a
    10k-bus case (pydantic's validator), and ``model_construct`` is slower
    still; these rows come from numpy arrays whose types the code fixes (int,
    float, None, str), so the validation can never fail. Each object gets
    exactly what ``model_construct`` would set (a test compares the two).
    """
    fields = set(model.model_fields)
    new, put = object.__new__, object.__setattr__
    out = []
    for r in rows:
        o = new(model)
        put(o, "__dict__", r)
        put(o, "__pydantic_fields_set__", fields)
        put(o, "__pydantic_extra__", None)
        put(o, "__pydantic_private__", None)
        out.append(o)
    return out


def _nullable(x: np.ndarray, as_int: bool = False) -> list:
    """``x`` as a list with None where it is not finite (ints rounded when ``as_int``).

    One numpy pass instead of a Python test per element: a 10k-bus report
    has ~50k such numbers. Integers are 64-bit, as every gram in a report:
    beyond that, OverflowError (the API answers it as a refused snapshot),
    never a wrapped-around number.
    """
    ok = np.isfinite(x)
    out = np.full(len(x), None, dtype=object)
    if as_int:
        v = np.round(x[ok])
        if v.size and float(np.abs(v).max()) >= 2.0**63:
            raise OverflowError("a whole number beyond 64 bits")
        out[ok] = v.astype(np.int64)
    else:
        out[ok] = x[ok]
    return out.tolist()


def _grams_split(f: CarbonFlow) -> tuple[int, int, int]:
    """(generator emissions, load carbon, loss carbon) in whole g/h; load = total - loss."""
    total_g = grams(f.generator_emissions)
    loss_total_g = grams(f.loss_carbon)
    return total_g, total_g - loss_total_g, loss_total_g


def _totals(g: FlowGraph, f: CarbonFlow, vm_pu: np.ndarray | None) -> dict:
    total_g, load_total_g, loss_total_g = _grams_split(f)
    vm = None if vm_pu is None else vm_pu[np.isfinite(vm_pu)]
    return {
        "generation_mw": float(g.source_p.sum()),
        "load_mw": float(g.sink_p.sum()),
        "loss_mw": float(g.virtual_loss.sum()),
        "branch_gain_mw": float(g.virtual_gain.sum()),
        "generator_emissions_t_per_h": f.generator_emissions,
        "load_carbon_t_per_h": f.load_carbon,
        "loss_carbon_t_per_h": f.loss_carbon,
        "generator_emissions_g_per_h": total_g,
        "load_carbon_g_per_h": load_total_g,
        "loss_carbon_g_per_h": loss_total_g,
        "max_balance_error_mw": f.max_balance_error_mw,
        "min_vm_pu": None if vm is None or not vm.size else float(vm.min()),
        "max_vm_pu": None if vm is None or not vm.size else float(vm.max()),
    }


def _sink_grams(f: CarbonFlow) -> np.ndarray:
    return apportion(np.maximum(f.sink_carbon, 0) * G_PER_T, _grams_split(f)[1])


def _bus_columns(g: FlowGraph, f: CarbonFlow):
    node = g.bus_node
    alive = node >= 0
    safe = np.maximum(node, 0)
    p = np.where(alive, f.through_flow[safe], np.nan)
    e = np.where(alive, f.intensity[safe], np.nan)
    r = np.where(alive, f.carbon_rate[safe], np.nan)
    return p, e, r, np.round(e * G_PER_KWH_PER_T_PER_MWH), np.round(r * G_PER_T)


def hour_summary(g: FlowGraph, f: CarbonFlow, vm_pu: np.ndarray | None = None,
                 ) -> tuple[Totals, np.ndarray, list[int | None]]:
    """What a series keeps of one trace: the totals, each sink's grams (apportioned as in
    the full report) and each bus's intensity in g/kWh (None: no flow), without the rows."""
    bus_g = _nullable(_bus_columns(g, f)[3], as_int=True)
    return Totals.model_validate(_totals(g, f, vm_pu)), _sink_grams(f), bus_g


def _ends(g: FlowGraph, cols: np.ndarray) -> list[list]:
    """Per branch, the values of its ends: two columns, three for a three-winding trafo
    (whole-array ``tolist`` for the two-ended majority, not a slice per row)."""
    out = cols[:, :2].tolist()
    for i in np.nonzero(g.branch_buses[:, 2] >= 0)[0].tolist():
        out[i] = cols[i].tolist()
    return out


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a report's rows are built.

    A 10k-bus report allocates ~30k dicts and ~60k small lists; every few
    hundred allocations trigger a collection that walks the whole heap,
    pandapower's network included, which cost more than half the report's
    time (measured: 4.0 s -> 0.9-1.4 s on case9241pegase under load). The rows
    hold no reference cycles, so nothing is lost by collecting later.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def build_report(
    name: str, g: FlowGraph, f: CarbonFlow, vm_pu: np.ndarray | None = None
) -> CarbonFlowReport:
    with _no_cyclic_gc():
        return _build_report(name, g, f, vm_pu)


def _build_report(
    name: str, g: FlowGraph, f: CarbonFlow, vm_pu: np.ndarray | None = None
) -> CarbonFlowReport:
    """The report of one trace; integers in grams add up exactly (see module doc).

    Rows are plain dicts built from whole-array ``tolist()`` calls and become
    models without a second validation (``_trusted_rows``): per-row Python
    work and validation cost as much as the power flow on a 10k-bus case.
    """
    total_g, load_total_g, loss_total_g = _grams_split(f)
    src_g = apportion(np.maximum(f.source_emission, 0) * G_PER_T, total_g)
    sink_g = _sink_grams(f)
    br_loss_g = apportion(np.maximum(f.branch_loss_carbon, 0) * G_PER_T, loss_total_g)
    src_loss_g = apportion(np.maximum(f.source_loss_carbon, 0) * G_PER_T, loss_total_g)

    p, e, r, e_g, r_g = _bus_columns(g, f)
    keys = ("bus", "through_flow_mw", "intensity_t_per_mwh", "intensity_g_per_kwh",
            "carbon_rate_t_per_h", "carbon_rate_g_per_h")
    buses = [dict(zip(keys, row, strict=True)) for row in zip(
        g.bus.tolist(), _nullable(p), _nullable(e), _nullable(e_g, as_int=True), _nullable(r),
        _nullable(r_g, as_int=True), strict=True)]
    keys = ("element", "index", "bus", "p_mw", "intensity_t_per_mwh", "emission_t_per_h",
            "emission_g_per_h", "loss_carbon_t_per_h", "loss_carbon_g_per_h")
    sources = [dict(zip(keys, row, strict=True)) for row in zip(
        g.source_element.tolist(), g.source_index.tolist(), g.source_bus.tolist(),
        g.source_p.tolist(), f.source_intensity.tolist(), f.source_emission.tolist(),
        src_g.tolist(), f.source_loss_carbon.tolist(), src_loss_g.tolist(), strict=True)]
    keys = ("element", "index", "bus", "p_mw", "carbon_t_per_h", "carbon_g_per_h")
    sinks = [dict(zip(keys, row, strict=True)) for row in zip(
        g.sink_element.tolist(), g.sink_index.tolist(), g.sink_bus.tolist(), g.sink_p.tolist(),
        f.sink_carbon.tolist(), sink_g.tolist(), strict=True)]
    keys = ("element", "index", "buses", "p_mw", "loss_mw", "carbon_in_t_per_h",
            "carbon_out_t_per_h", "carbon_in_g_per_h", "loss_carbon_t_per_h",
            "loss_carbon_g_per_h")
    branches = [dict(zip(keys, row, strict=True)) for row in zip(
        g.branch_element.tolist(), g.branch_index.tolist(), _ends(g, g.branch_buses),
        _ends(g, g.branch_p), g.branch_loss.tolist(), f.branch_carbon_in.tolist(),
        f.branch_carbon_out.tolist(),
        np.round(f.branch_carbon_in * G_PER_T).astype(np.int64).tolist(),
        f.branch_loss_carbon.tolist(), br_loss_g.tolist(), strict=True)]
    totals = _totals(g, f, vm_pu)
    return CarbonFlowReport.model_construct(
        network=name, totals=Totals.model_validate(totals),
        buses=_trusted_rows(BusCarbon, buses), sources=_trusted_rows(SourceCarbon, sources),
        sinks=_trusted_rows(SinkCarbon, sinks), branches=_trusted_rows(BranchCarbon, branches),
        outsourcing=None,
    )
