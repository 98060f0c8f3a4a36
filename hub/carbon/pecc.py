"""Emission intensity of a coal unit from its coal-consumption curve (P3).

The curve gives the unit's coal use per hour as ``F(P) = a P^2 + b P + c``
(tonnes of standard coal per hour, P in MW), so its specific consumption is
``F/P = a P + b + c/P`` in t/MWh, i.e. ``1000 (a P + b + c/P)`` g/kWh:

    w_k  = delta_k * (1000 a P + 1000 b + 1000 c / P)          g coal / kWh
    E_Gk = (44/12) * mu * phi * w_k * (1 - theta) / 1000        t CO2 / MWh

delta_k is 1.0 in normal operation, 0 when shut down and 1.01 during deep
peak shaving or fast ramping (the extra coal burnt off the design point).
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

#: Mass ratio of CO2 to carbon.
CO2_PER_C = 44.0 / 12.0


class OperatingState(str, Enum):
    """The operating states of P3 and their consumption factor delta."""

    NORMAL = "normal"
    SHUTDOWN = "shutdown"
    DEEP_PEAK_SHAVING = "deep_peak_shaving"
    FAST_RAMPING = "fast_ramping"

    @property
    def delta(self) -> float:
        return _DELTA[self]


_DELTA = {
    OperatingState.NORMAL: 1.0,
    OperatingState.SHUTDOWN: 0.0,
    OperatingState.DEEP_PEAK_SHAVING: 1.01,
    OperatingState.FAST_RAMPING: 1.01,
}


class CoalUnit(BaseModel):
    """Parameters of one coal unit's consumption curve and fuel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: float = Field(ge=0, description="quadratic coefficient, t coal / (MW^2 h)")
    b: float = Field(ge=0, description="linear coefficient, t coal / MWh")
    c: float = Field(ge=0, description="no-load coefficient, t coal / h")
    mu: float = Field(gt=0, le=1, description="carbon content of the coal, t C / t coal")
    phi: float = Field(default=0.99, gt=0, le=1, description="oxidation rate of the carbon")
    theta: float = Field(default=0.0, ge=0, le=1, description="capture rate of the CO2")
    state: OperatingState = OperatingState.NORMAL


def coal_consumption_g_per_kwh(unit: CoalUnit, p_mw: float) -> float:
    """Specific coal consumption w_k at output ``p_mw`` (g coal per kWh).

    A unit that is shut down, or that produces nothing, burns nothing per kWh
    that the tracer could attribute: its w is 0 (c/P has no meaning at P = 0).
    """
    delta = unit.state.delta
    if delta == 0.0 or p_mw <= 0.0:
        return 0.0
    return delta * (1000.0 * unit.a * p_mw + 1000.0 * unit.b + 1000.0 * unit.c / p_mw)


def coal_intensity_t_per_mwh(unit: CoalUnit, p_mw: float) -> float:
    """Emission intensity E_Gk of the unit at output ``p_mw`` (t CO2 per MWh)."""
    w = coal_consumption_g_per_kwh(unit, p_mw)
    return CO2_PER_C * unit.mu * unit.phi * w * (1.0 - unit.theta) / 1000.0
