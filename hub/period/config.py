"""The loop's own configuration file (JSON), named by the hub setting ``allocation_config``.

Everything has a default, so an empty object ``{}`` is a working
configuration: 15-minute periods, each site its own region, sellers at 0 g
CO2/kWh unless listed, P1's ladder (20 and 40 $/t), no carbon-flow
trace, scoring epochs of one hour with three supervisors. docs/hub.md
("The allocation loop") describes every field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from edge.protocol.types import MAX_PRICE, Id

Intensity = Annotated[StrictInt, Field(ge=0, le=10_000, description="g CO2 per kWh")]
#: "site" or "site/gateway" (or "site/meter" in the trace's bus map).
Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}(/[A-Za-z0-9_.-]{1,32})?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TraceConfig(_Strict):
    """Carbon-flow trace of each period on a pandapower network."""

    network: str = Field(min_length=1, max_length=200,
                         description="a built-in case name (carbon cases) or a pandapower "
                                     "JSON file")
    buses: dict[Key, Annotated[StrictInt, Field(ge=0)]] = Field(
        min_length=1, max_length=10_000, description="'site/meter' or 'site' -> bus index")


class ScoringConfig(_Strict):
    epoch_s: Annotated[StrictInt, Field(ge=60, le=7 * 86_400)] = 3600
    s: Annotated[StrictInt, Field(ge=1, le=1000)] = 3
    gamma: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 1.0

    @property
    def gamma_milli(self) -> int:
        return max(round(self.gamma * 1000), 1)


class LoopFile(_Strict):
    period_s: Annotated[StrictInt, Field(ge=60, le=86_400)] = 900
    delay_s: Annotated[StrictInt, Field(ge=0, le=86_400)] = 120
    signal_offset: Annotated[StrictInt, Field(ge=0, le=4)] = 1
    lookback_periods: Annotated[StrictInt, Field(ge=1, le=96)] = 4
    regions: dict[Id, Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=dict, max_length=10_000)
    intensities: dict[Key, Intensity] = Field(default_factory=dict, max_length=100_000)
    default_intensity_g_kwh: Intensity = 0
    p_low: Annotated[StrictInt, Field(ge=0, le=MAX_PRICE)] = 20
    p_high: Annotated[StrictInt, Field(ge=0, le=MAX_PRICE)] = 40
    rounds: Annotated[StrictInt, Field(ge=2, le=64)] = 8
    max_entities: Annotated[StrictInt, Field(ge=1, le=10_000)] = 2000
    trace: TraceConfig | None = None
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)


#: The file is read up to this size and refused above it (a device or a huge file ends fast).
MAX_FILE_BYTES = 4 << 20


class LoopConfigError(ValueError):
    """The loop's configuration file cannot be used (one sentence naming the field)."""


def load_loop_file(path: Path | None) -> LoopFile:
    if path is None:
        return LoopFile()
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise LoopConfigError(f"allocation config {path}: more than {MAX_FILE_BYTES} bytes")
        data = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise LoopConfigError(f"allocation config {path}: {exc}") from None
    try:
        return LoopFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "file"
        raise LoopConfigError(f"allocation config {path}: {where}: {err['msg']}") from None
