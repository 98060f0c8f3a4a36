"""The carbon-flow side of the loop: nodal intensities of a period from metered power.

The edges record every good meter reading as a ``meter_reading`` transaction
of their chain ({"type": "meter_reading", "site", "dev", "kind", "q", "ts",
"p_w", ...}). For a period, the mean ``p_w`` of each (site, meter) over the
period's readings is the meter's draw (W, positive = import, negative = a
site feeding in). The hub config maps "site/dev" (or a whole "site") to a bus
of the configured network; the draws mapped to one bus replace the demand of
that bus's first load, and the rest of the network keeps its own values.
hub.carbon traces the carbon flow (AC power flow, proportional sharing) and
the intensity of every mapped bus goes on the chain and into that site's
price signal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

import pandapower as pp

from hub.carbon.analysis import report_network
from hub.carbon.errors import CarbonInputError
from hub.carbon.snapshot import LoadSetpoint, Snapshot
from hub.period.pipeline import PeriodError
from hub.period.records import NodalIntensities
from hub.period.reports import PushedTx

#: A meter's draw is bounded before it is added up: 1 GW is beyond any substation meter.
MAX_ABS_W = 10**9


def metered_draw_w(txs: Iterable[PushedTx], start_ms: int, end_ms: int,
                   bus_map: Mapping[str, int]) -> dict[int, Fraction]:
    """Mean metered draw (W) per mapped bus over [start_ms, end_ms)."""
    sums: dict[tuple[str, str], list[int]] = {}
    for p in txs:
        t = p.tx
        if not isinstance(t, dict) or t.get("type") != "meter_reading" or t.get("q") != "good":
            continue
        site, dev, ts, w = t.get("site"), t.get("dev"), t.get("ts"), t.get("p_w")
        if not (isinstance(site, str) and isinstance(dev, str) and _int(ts) and _int(w)):
            continue
        if p.site is not None and site != p.site:
            continue
        if not start_ms <= ts < end_ms or abs(w) > MAX_ABS_W:
            continue
        acc = sums.setdefault((site, dev), [0, 0])
        acc[0] += w
        acc[1] += 1
    out: dict[int, Fraction] = {}
    for (site, dev), (total, n) in sums.items():
        bus = bus_map.get(f"{site}/{dev}", bus_map.get(site))
        if bus is not None:
            out[bus] = out.get(bus, Fraction(0)) + Fraction(total, n)
    return out


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def nodal_intensities(period: int, net: pp.pandapowerNet, name: str,
                      draw_w: Mapping[int, Fraction], bus_map: Mapping[str, int]
                      ) -> NodalIntensities:
    """Trace the period's snapshot and keep the mapped buses' intensities (g CO2/kWh)."""
    loads: dict[int, LoadSetpoint] = {}
    for bus, w in sorted(draw_w.items()):
        at = net.load.index[net.load.bus == bus]
        if not len(at):
            raise PeriodError(f"trace: bus {bus} has no load to carry the metered draw "
                              "(allocation_trace_buses)")
        loads[int(at[0])] = LoadSetpoint(p_mw=float(w) / 1e6)
    try:
        rep = report_network(net, Snapshot(loads=loads), name=name)
    except CarbonInputError as exc:
        raise PeriodError(f"trace: {exc}") from None
    by_bus = {b.bus: b.intensity_g_per_kwh for b in rep.buses}
    buses = {str(b): by_bus.get(b) or 0 for b in sorted(set(bus_map.values()))}
    return NodalIntensities(period=period, network=name,
                            generator_emissions_g_per_h=max(
                                rep.totals.generator_emissions_g_per_h, 0),
                            buses=buses)
