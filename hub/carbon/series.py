"""A day of hourly snapshots: 24 scalings of the base snapshot, each traced.

The base is the network with its snapshot applied; hour h multiplies every
load's p and q by ``load[h]``, every sgen's p by ``sgen[h]`` and every gen's
p by ``gen[h]`` (absent lists mean 1.0 all day). A coal unit's intensity is
re-evaluated at each hour's output. An hour whose power flow fails is
reported as failed and the other hours still count: one bad hour never hides
a day of good ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandapower as pp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.carbon.analysis import run_power_flow, trace_solved
from hub.carbon.errors import CarbonInputError, Reason
from hub.carbon.report import Totals, build_report
from hub.carbon.snapshot import Snapshot, apply_snapshot, parse_snapshot
from hub.carbon.tracing import LinearSolver

HOURS = 24
_Scalings = list[float]


class Profile(BaseModel):
    """Hourly scalings of the base snapshot: 24 numbers each, >= 0."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    load: _Scalings = Field(min_length=HOURS, max_length=HOURS)
    sgen: _Scalings | None = Field(default=None, min_length=HOURS, max_length=HOURS)
    gen: _Scalings | None = Field(default=None, min_length=HOURS, max_length=HOURS)


def parse_profile(obj: Any) -> Profile:
    """A validated profile, or a CarbonInputError naming the first bad field."""
    if isinstance(obj, Profile):
        prof = obj  # built elsewhere (e.g. by FastAPI): the sign check below still applies
    elif not isinstance(obj, Mapping):
        raise CarbonInputError(Reason.BAD_PROFILE, "a profile is a JSON object", "profile")
    else:
        try:
            prof = Profile.model_validate(obj)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise CarbonInputError(Reason.BAD_PROFILE, err["msg"], f"profile.{loc}") from None
    for name in ("load", "sgen", "gen"):
        values = getattr(prof, name)
        for h, v in enumerate(values or []):
            if v < 0:
                raise CarbonInputError(
                    Reason.BAD_PROFILE, f"scaling {v} is negative", f"profile.{name}.{h}"
                )
    return prof


class HourCarbon(BaseModel):
    hour: int
    converged: bool
    error: str | None = None
    totals: Totals | None = None
    bus_intensity_g_per_kwh: list[int | None] | None = Field(
        default=None, description="nodal intensity, in the order of the report's `buses`"
    )


class SinkDay(BaseModel):
    element: str
    index: int
    bus: int
    energy_kwh: float
    carbon_g: int = Field(description="carbon of its energy over the day's traced hours")


class DayTotals(BaseModel):
    hours_traced: int
    generation_mwh: float
    loss_mwh: float
    generator_emissions_g: int
    load_carbon_g: int
    loss_carbon_g: int


class SeriesReport(BaseModel):
    """Hourly carbon-emission flow over one day, and each consumer's carbon for the day."""

    network: str
    buses: list[int]
    hours: list[HourCarbon]
    day: DayTotals
    sinks: list[SinkDay]


def _scale(net: pp.pandapowerNet, table: str, cols: tuple[str, ...], base: dict, k: float):
    for c in cols:
        net[table][c] = base[(table, c)] * k


def trace_series(
    net: pp.pandapowerNet,
    profile: Profile | dict,
    snapshot: Snapshot | dict | None = None,
    name: str = "network",
    solver: LinearSolver | None = None,
) -> SeriesReport:
    """Trace 24 hourly snapshots; the network is left at its base snapshot afterwards."""
    prof = parse_profile(profile)
    snap = parse_snapshot(snapshot)
    apply_snapshot(net, snap)
    scaled = {"load": ("p_mw", "q_mvar"), "sgen": ("p_mw",), "gen": ("p_mw",)}
    base = {(t, c): net[t][c].to_numpy(copy=True) for t, cols in scaled.items() for c in cols}
    hours: list[HourCarbon] = []
    sink_acc: dict[tuple[str, int], list] = {}
    acc = dict(gen=0.0, loss=0.0, e=0, l=0, x=0, n=0)
    try:
        for h in range(HOURS):
            for t, cols in scaled.items():
                k = getattr(prof, t)
                _scale(net, t, cols, base, 1.0 if k is None else k[h])
            try:
                run_power_flow(net)
                traced = trace_solved(net, snap, solver)
            except CarbonInputError as exc:
                hours.append(HourCarbon(hour=h, converged=False, error=str(exc)))
                continue
            rep = build_report(name, traced.graph, traced.flow, traced.vm_pu)
            hours.append(HourCarbon(
                hour=h, converged=True, totals=rep.totals,
                bus_intensity_g_per_kwh=[b.intensity_g_per_kwh for b in rep.buses],
            ))
            tot = rep.totals
            acc["gen"] += tot.generation_mw
            acc["loss"] += tot.loss_mw
            acc["e"] += tot.generator_emissions_g_per_h
            acc["l"] += tot.load_carbon_g_per_h
            acc["x"] += tot.loss_carbon_g_per_h
            acc["n"] += 1
            for s in rep.sinks:
                row = sink_acc.setdefault((s.element, s.index), [s.bus, 0.0, 0])
                row[1] += s.p_mw * 1000.0
                row[2] += s.carbon_g_per_h
    finally:
        for t, cols in scaled.items():
            _scale(net, t, cols, base, 1.0)
    return SeriesReport(
        network=name,
        buses=[int(b) for b in net.bus.index],
        hours=hours,
        day=DayTotals(hours_traced=acc["n"], generation_mwh=acc["gen"], loss_mwh=acc["loss"],
                      generator_emissions_g=acc["e"], load_carbon_g=acc["l"],
                      loss_carbon_g=acc["x"]),
        sinks=[SinkDay(element=el, index=ix, bus=v[0], energy_kwh=v[1], carbon_g=v[2])
               for (el, ix), v in sorted(sink_acc.items())],
    )

