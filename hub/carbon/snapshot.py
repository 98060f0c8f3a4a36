"""The load and generation snapshot a trace runs on, and the sources' intensities.

A snapshot names elements by their pandapower index (JSON object keys are the
index as a string). Everything is optional: what a snapshot leaves out keeps
the network's own values, and a source with no intensity of its own takes the
default for its element type. Intensities are in t CO2/MWh (the unit of the
analysis); a coal unit may instead give its consumption curve, and is then
evaluated at the output the power flow solved for it, so the intensity of a
slack-connected coal unit follows its real output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandapower as pp
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.carbon.errors import CarbonInputError, Reason
from hub.carbon.pecc import CoalUnit, coal_intensity_t_per_mwh

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class LoadSetpoint(BaseModel):
    """One load's demand in this snapshot."""

    model_config = _STRICT

    p_mw: float = Field(description="active power drawn, MW (negative: the load feeds in)")
    q_mvar: float | None = Field(default=None, description="reactive power, Mvar (kept if absent)")


class Emission(BaseModel):
    """How a source's intensity is known: a number, a coal curve, or neither (default)."""

    model_config = _STRICT

    t_per_mwh: float | None = Field(default=None, ge=0, description="intensity, t CO2/MWh")
    coal: CoalUnit | None = Field(default=None, description="PECC coal-unit parameters")

    @model_validator(mode="after")
    def _one_way(self) -> Emission:
        if self.t_per_mwh is not None and self.coal is not None:
            raise ValueError("give either t_per_mwh or coal, not both")
        return self

    def intensity(self, p_mw: float, default: float) -> float:
        """Intensity at output ``p_mw``, t CO2/MWh."""
        if self.coal is not None:
            return coal_intensity_t_per_mwh(self.coal, p_mw)
        return default if self.t_per_mwh is None else self.t_per_mwh


class SourceSetpoint(Emission):
    """A gen's or sgen's output and intensity in this snapshot."""

    p_mw: float | None = Field(default=None, description="output set-point, MW (kept if absent)")


class Defaults(BaseModel):
    """Intensities of sources the snapshot says nothing about, t CO2/MWh.

    ``other`` is for consumers that feed in (a load, shunt or storage with a
    negative draw): the network does not say what produces that power.
    """

    model_config = _STRICT

    ext_grid: float = Field(default=0.5, ge=0)
    gen: float = Field(default=0.8, ge=0)
    sgen: float = Field(default=0.0, ge=0)
    other: float = Field(default=0.0, ge=0)


class Snapshot(BaseModel):
    """Loads, outputs and intensities for one instant of a network."""

    model_config = _STRICT

    loads: dict[int, LoadSetpoint] = Field(default_factory=dict)
    gens: dict[int, SourceSetpoint] = Field(default_factory=dict)
    sgens: dict[int, SourceSetpoint] = Field(default_factory=dict)
    ext_grids: dict[int, Emission] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "snapshot"


def parse_snapshot(obj: Any, reason: Reason = Reason.BAD_SNAPSHOT) -> Snapshot:
    """A validated snapshot, or a CarbonInputError naming the first bad field."""
    if isinstance(obj, Snapshot):
        return obj
    if obj is None:
        return Snapshot()
    if not isinstance(obj, Mapping):
        raise CarbonInputError(reason, "a snapshot is a JSON object", "snapshot")
    try:
        return Snapshot.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CarbonInputError(
            reason, err["msg"], f"snapshot.{_field_path(err['loc'])}"
        ) from None


def _check_indices(net: pp.pandapowerNet, table: str, keys: Mapping[int, Any]) -> None:
    present = net[table].index
    missing = [k for k in keys if k not in present]
    if missing:
        raise CarbonInputError(
            Reason.UNKNOWN_ELEMENT,
            f"{table} {missing[0]} is not in the network (it has {len(present)} {table}s"
            + (f", indices {present.min()}..{present.max()})" if len(present) else ")"),
            f"snapshot.{table}s.{missing[0]}",
        )


def apply_snapshot(net: pp.pandapowerNet, snap: Snapshot) -> None:
    """Write the snapshot's demands and set-points into ``net`` (in place)."""
    _check_indices(net, "load", snap.loads)
    _check_indices(net, "gen", snap.gens)
    _check_indices(net, "sgen", snap.sgens)
    _check_indices(net, "ext_grid", snap.ext_grids)
    for i, s in snap.loads.items():
        net.load.at[i, "p_mw"] = s.p_mw
        if s.q_mvar is not None:
            net.load.at[i, "q_mvar"] = s.q_mvar
    for table, setpoints in (("gen", snap.gens), ("sgen", snap.sgens)):
        for i, s in setpoints.items():
            if s.p_mw is not None:
                net[table].at[i, "p_mw"] = s.p_mw


def source_intensities(
    snap: Snapshot, element: np.ndarray, index: np.ndarray, p_mw: np.ndarray
) -> np.ndarray:
    """Intensity (t CO2/MWh) of each traced source, aligned with the given arrays.

    ``element`` holds pandapower table names: ``gen``, ``sgen`` and
    ``ext_grid`` look up their snapshot entry; any other table is a consumer
    feeding in and takes ``defaults.other``.
    """
    d = snap.defaults
    tables = {"gen": (snap.gens, d.gen), "sgen": (snap.sgens, d.sgen),
              "ext_grid": (snap.ext_grids, d.ext_grid)}
    out = np.empty(len(element), dtype=float)
    for k, (el, idx, p) in enumerate(zip(element, index, p_mw, strict=True)):
        specs, default = tables.get(str(el), ({}, d.other))
        spec = specs.get(int(idx))
        out[k] = default if spec is None else spec.intensity(float(p), default)
        if not math.isfinite(out[k]):
            raise CarbonInputError(
                Reason.BAD_SNAPSHOT, "intensity is not a finite number",
                f"snapshot.{el}s.{idx}",
            )
    return out
