"""A series of hourly snapshots (a day, up to a leap year): scalings of the base snapshot.

The base is the network with its snapshot applied; hour h multiplies every
load's p and q by ``load[h]``, every sgen's p by ``sgen[h]`` and every gen's
p by ``gen[h]`` (absent lists mean 1.0 throughout). A coal unit's intensity is
re-evaluated at each hour's output. An hour whose power flow fails is
reported as failed and the other hours still count: one bad hour never hides
a day of good ones.

Scale: the hours are traced in chunks of ``chunk_hours`` (24 by default),
serially or as Dask tasks (``client``; hub.cluster). Within a chunk each
hour's AC power flow starts from the previous hour's solution, reusing
pandapower's admittance matrices, and is retried from a cold (DC) start when
that fails (hub.carbon.warmstart); every chunk's first hour starts cold. A
chunk's results therefore depend on its hours only, not on where it ran or
on how many workers there are; each consumer's energy and grams are summed
over a chunk's hours where the chunk ran, then over the chunks in order, so a
cluster gives exactly the serial result. The chunk length is
part of the input: a warm-started hour agrees with a cold-started one to the
power flow's tolerance (1e-8 MVA), not bit for bit, so another
``chunk_hours`` may move a gram. Chunks are folded into the totals as they
come (serially too), so a year never sits in memory at once. An hour needs
only totals, each consumer's grams and (optionally) the nodal intensities,
so it skips the full per-row report.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandapower as pp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.carbon.analysis import run_power_flow, trace_solved
from hub.carbon.errors import CarbonInputError, Reason, count
from hub.carbon.report import Totals, hour_summary
from hub.carbon.snapshot import Snapshot, apply_snapshot, parse_snapshot
from hub.carbon.tracing import LinearSolver
from hub.carbon.warmstart import HourSolver, Start

HOURS = 24
#: A leap year of hours: the longest series the library traces.
MAX_HOURS = 8784
#: Hours per chunk: a task on a cluster, and the run of hours warm-started from each other
#: (serially too, so that the serial and the cluster results are the same).
CHUNK_HOURS = 24
_Scalings = list[float]


class Profile(BaseModel):
    """Hourly scalings of the base snapshot: 24 numbers each, >= 0."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    load: _Scalings = Field(min_length=HOURS, max_length=HOURS)
    sgen: _Scalings | None = Field(default=None, min_length=HOURS, max_length=HOURS)
    gen: _Scalings | None = Field(default=None, min_length=HOURS, max_length=HOURS)


class SeriesProfile(BaseModel):
    """Hourly scalings of any length from 1 to MAX_HOURS, every list as long as ``load``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    load: _Scalings = Field(min_length=1, max_length=MAX_HOURS)
    sgen: _Scalings | None = Field(default=None, min_length=1, max_length=MAX_HOURS)
    gen: _Scalings | None = Field(default=None, min_length=1, max_length=MAX_HOURS)


@dataclass
class Chunk:
    """What one chunk of hours hands back: its hours' records, and per consumer
    (element, index) its [bus, kWh, grams] summed over the chunk's hours in hour order."""

    hours: list[HourCarbon]
    sinks: dict[tuple[str, int], list]


def parse_profile(obj: Any) -> Profile | SeriesProfile:
    """A validated profile, or a CarbonInputError naming the first bad field."""
    if isinstance(obj, (Profile, SeriesProfile)):
        prof = obj  # built elsewhere (e.g. by FastAPI): the sign check below still applies
    elif not isinstance(obj, Mapping):
        raise CarbonInputError(Reason.BAD_PROFILE, "a profile is a JSON object", "profile")
    else:
        try:
            prof = SeriesProfile.model_validate(obj)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise CarbonInputError(Reason.BAD_PROFILE, err["msg"], f"profile.{loc}") from None
    for name in ("sgen", "gen"):
        v = getattr(prof, name)
        if v is not None and len(v) != len(prof.load):
            raise CarbonInputError(Reason.BAD_PROFILE,
                                   f"{name} has {len(v)} hours, load has {len(prof.load)}",
                                   f"profile.{name}")
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
    start: Start | None = Field(
        default=None, description="the AC power flow's start that converged: warm (the "
        "previous hour's solution) or cold (DC angles); null: failed, or a DC power flow")
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


_SCALED = {"load": ("p_mw", "q_mvar"), "sgen": ("p_mw",), "gen": ("p_mw",)}


def _trace_hours(
    net: pp.pandapowerNet, snap: Snapshot, factors: dict[str, list[float] | None],
    first: int, name: str, dc: bool, bus_intensities: bool, solver: LinearSolver | None,
    on_hours: Callable[[int], None] | None = None,
) -> Chunk:
    """Trace hours first.. of ``factors`` on ``net`` (already at its base snapshot).

    The first hour starts its power flow cold, each later one from the hour
    before (hub.carbon.warmstart). Returns the hours' records and their
    consumers' energy and grams summed over the chunk in hour order (the
    folding happens where the hours were traced, so a cluster worker sends
    one table per chunk, not a megabyte per hour for the client to sum), and
    leaves the network at its base; ``on_hours(1)`` after each hour.
    """
    base = {(t, c): net[t][c].to_numpy(copy=True) for t, cols in _SCALED.items() for c in cols}
    out = Chunk([], {})
    pf = HourSolver(net)
    pf.reset()  # the chunk starts cold, whatever ran on this network before
    try:
        for j in range(len(factors["load"] or [])):
            for t, cols in _SCALED.items():
                k = factors[t]
                _scale(net, t, cols, base, 1.0 if k is None else k[j])
            h = first + j
            start: Start | None = None
            try:
                if dc:
                    run_power_flow(net, dc=True)
                else:
                    start = pf.solve()
                traced = trace_solved(net, snap, solver)
            except CarbonInputError as exc:
                count(exc)  # the hour is answered as failed: counted here, once
                out.hours.append(HourCarbon(hour=h, converged=False, error=str(exc)))
                if on_hours is not None:
                    on_hours(1)
                continue
            totals, sink_g, bus_g = hour_summary(traced.graph, traced.flow, traced.vm_pu)
            g = traced.graph
            _fold(out.sinks, zip(g.sink_element.tolist(), g.sink_index.tolist(),
                                 g.sink_bus.tolist(), (g.sink_p * 1000.0).tolist(),
                                 sink_g.tolist(), strict=True))
            out.hours.append(HourCarbon(
                hour=h, converged=True, start=start, totals=totals,
                bus_intensity_g_per_kwh=bus_g if bus_intensities else None))
            if on_hours is not None:
                on_hours(1)
    finally:
        pf.reset()  # no stored state of a scaled hour outlives the chunk
        for t, cols in _SCALED.items():
            _scale(net, t, cols, base, 1.0)
    return out


def _fold(acc: dict[tuple[str, int], list], rows: Iterable[tuple]) -> None:
    """Add rows (element, index, bus, kWh, grams) to ``acc``'s [bus, kWh, grams] per consumer."""
    for el, ix, bus, e_kwh, g in rows:
        row = acc.get((el, ix))
        if row is None:
            row = acc[(el, ix)] = [bus, 0.0, 0]
        row[1] += e_kwh
        row[2] += g


def _chunk_task(net: pp.pandapowerNet, snap: Snapshot, factors: dict, first: int, name: str,
                dc: bool, bus_intensities: bool) -> Chunk:
    """One cluster task: a chunk of hours on the worker's own copy of the network."""
    return _trace_hours(copy.deepcopy(net), snap, factors, first, name, dc, bus_intensities, None)


def trace_series(
    net: pp.pandapowerNet,
    profile: Profile | SeriesProfile | dict,
    snapshot: Snapshot | dict | None = None,
    name: str = "network",
    solver: LinearSolver | None = None,
    dc: bool = False,
    client: Any = None,
    bus_intensities: bool = True,
    chunk_hours: int = CHUNK_HOURS,
    on_hours: Callable[[int], None] | None = None,
) -> SeriesReport:
    """Trace every hour of the profile; the network is left at its base snapshot afterwards.

    Hours are traced in chunks of ``chunk_hours``, warm-started within a
    chunk; ``client`` (dask.distributed) runs the chunks as tasks, and the
    result is identical to the serial run with the same ``chunk_hours``. ``bus_intensities``
    False leaves out the per-hour nodal intensities (a year of a 10k-bus case
    would be 80 million numbers). ``on_hours(k)`` says k more hours are done
    (after each hour serially, after each chunk on a cluster): the CLI's bar.
    """
    prof = parse_profile(profile)
    snap = parse_snapshot(snapshot)
    apply_snapshot(net, snap)
    n = len(prof.load)
    lists = {t: getattr(prof, t) for t in _SCALED}
    chunk_hours = max(1, chunk_hours)
    starts = list(range(0, n, chunk_hours))

    def part(a: int) -> dict[str, list[float] | None]:
        b = min(a + chunk_hours, n)
        return {t: None if v is None else v[a:b] for t, v in lists.items()}

    if client is None or solver is not None:
        results: Iterable[Chunk] = (
            _trace_hours(net, snap, part(a), a, name, dc, bus_intensities, solver, on_hours)
            for a in starts)
    else:
        shared = client.scatter(net, broadcast=True)
        futures = [client.submit(_chunk_task, shared, snap, part(a), a, name, dc,
                                 bus_intensities, pure=False) for a in starts]
        results = _in_order(futures, on_hours)
    return _combine(net, name, results)


def _in_order(futures: list[Any], on_hours: Callable[[int], None] | None = None,
              ) -> Iterator[Chunk]:
    """The chunks in order, each future let go once read (``_combine`` folds them as they
    come, so neither side keeps a chunk it has summed)."""
    for j in range(len(futures)):
        fut, futures[j] = futures[j], None
        chunk = fut.result()
        fut.release()
        if on_hours is not None:
            on_hours(len(chunk.hours))
        yield chunk


def _combine(net: pp.pandapowerNet, name: str, chunks: Iterable[Chunk]) -> SeriesReport:
    """Hours in order, day totals summed in hour order, consumers' chunk sums in chunk order."""
    hours: list[HourCarbon] = []
    sink_acc: dict[tuple[str, int], list] = {}
    acc = dict(gen=0.0, loss=0.0, e=0, l=0, x=0, n=0)
    for chunk in chunks:
        for rec in chunk.hours:
            hours.append(rec)
            if rec.totals is None:
                continue
            tot = rec.totals
            acc["gen"] += tot.generation_mw
            acc["loss"] += tot.loss_mw
            acc["e"] += tot.generator_emissions_g_per_h
            acc["l"] += tot.load_carbon_g_per_h
            acc["x"] += tot.loss_carbon_g_per_h
            acc["n"] += 1
        _fold(sink_acc, ((el, ix, *v) for (el, ix), v in chunk.sinks.items()))
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
