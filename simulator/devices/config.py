"""What to simulate: servers, the devices on each, and the physics settings.

One pydantic model per concept; ``extra="forbid"`` everywhere so a typo in a
JSON file is an error that names the field instead of a silent default.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.devices.clock import parse_start


class ConfigError(ValueError):
    """A device configuration that cannot be served; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeterConfig(_Strict):
    """A three-phase meter at a customer's connection: load minus PV (model 203)."""

    kind: Literal["meter"] = "meter"
    unit: int = Field(ge=1, le=247)
    name: str | None = None
    load: Literal["household", "commercial", "none"] = "household"
    load_peak_w: int = Field(default=1000, ge=0, le=1_000_000)
    pv_kwp: float = Field(default=0.0, ge=0.0, le=1000.0)
    cloudiness: float = Field(default=0.3, ge=0.0, le=1.0)
    power_factor: float = Field(default=0.95, gt=0.0, le=1.0)
    #: the power the scale factors are sized for (default 1.5 x the larger of load and PV)
    rating_w: int | None = Field(default=None, gt=0, le=10_000_000)

    def effective_rating_w(self) -> int:
        if self.rating_w is not None:
            return self.rating_w
        return max(1000, int(1.5 * max(self.load_peak_w, self.pv_kwp * 1000)))


class BatteryConfig(_Strict):
    """A battery with its own AC meter and a basic storage control model (124)."""

    kind: Literal["battery"] = "battery"
    unit: int = Field(ge=1, le=247)
    name: str | None = None
    capacity_wh: int = Field(default=10_000, gt=0, le=100_000_000)
    max_charge_w: int = Field(default=5000, gt=0, le=10_000_000)
    max_discharge_w: int = Field(default=5000, gt=0, le=10_000_000)
    round_trip_efficiency: float = Field(default=0.90, gt=0.0, le=1.0)
    soc_min_pct: float = Field(default=10.0, ge=0.0, le=100.0)
    soc_max_pct: float = Field(default=95.0, ge=0.0, le=100.0)
    soc_init_pct: float = Field(default=50.0, ge=0.0, le=100.0)
    nominal_v: float = Field(default=48.0, gt=0.0, le=1500.0)

    @model_validator(mode="after")
    def _soc_order(self) -> BatteryConfig:
        if not self.soc_min_pct < self.soc_max_pct:
            raise ValueError(
                f"soc_min_pct ({self.soc_min_pct}) must be below soc_max_pct ({self.soc_max_pct})"
            )
        if not self.soc_min_pct <= self.soc_init_pct <= self.soc_max_pct:
            raise ValueError(
                f"soc_init_pct ({self.soc_init_pct}) must lie in "
                f"[{self.soc_min_pct}, {self.soc_max_pct}]"
            )
        return self


class PvConfig(_Strict):
    """A PV inverter (model 103) metering the array of the meter at unit ``meter``."""

    kind: Literal["pv"] = "pv"
    unit: int = Field(ge=1, le=247)
    name: str | None = None
    meter: int = Field(ge=1, le=247, description="unit id of the meter whose PV this is")


DeviceConfig = Annotated[MeterConfig | BatteryConfig | PvConfig, Field(discriminator="kind")]


class ServerConfig(_Strict):
    """One Modbus server: a TCP port or an RTU line, with one device per unit id."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    transport: Literal["tcp", "rtu"] = "tcp"
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    baudrate: int = Field(default=19200, gt=0)
    devices: list[DeviceConfig] = Field(min_length=1, max_length=247)

    @model_validator(mode="after")
    def _unique_units(self) -> ServerConfig:
        seen: set[int] = set()
        for d in self.devices:
            if d.unit in seen:
                raise ValueError(f"unit id {d.unit} is used twice on server {self.name!r}")
            seen.add(d.unit)
        meters = {d.unit: d for d in self.devices if isinstance(d, MeterConfig)}
        for d in self.devices:
            if isinstance(d, PvConfig):
                m = meters.get(d.meter)
                if m is None or m.pv_kwp <= 0:
                    raise ValueError(f"pv unit {d.unit}: unit {d.meter} on server "
                                     f"{self.name!r} is not a meter with pv_kwp > 0")
        return self


class FleetConfig(_Strict):
    """Everything one simulator process serves."""

    seed: int = Field(default=0, ge=0)
    start: str = "2024-06-21T00:00:00"
    accel: float | None = Field(default=None, gt=0.0)
    latitude: float = Field(default=48.0, ge=-90.0, le=90.0)
    step_s: int = Field(default=5, ge=1, le=900)
    servers: list[ServerConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> FleetConfig:
        parse_start(self.start)
        names = [s.name for s in self.servers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"server name(s) {sorted(dup)} used twice")
        dev_names = [device_name(s, d) for s in self.servers for d in s.devices]
        dup = {n for n in dev_names if dev_names.count(n) > 1}
        if dup:
            raise ValueError(f"device name(s) {sorted(dup)} used twice")
        return self

    @property
    def start_ms(self) -> int:
        return parse_start(self.start)


def device_name(server: ServerConfig, device: MeterConfig | BatteryConfig | PvConfig) -> str:
    """The name faults and snapshots use: the configured one, else ``server/unit``."""
    return device.name or f"{server.name}/{device.unit}"


def _explain(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "config"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    msg = err["msg"]
    if err["type"] == "union_tag_not_found":
        msg = "'kind' is required: 'meter', 'battery' or 'pv'"
    elif err["type"] == "union_tag_invalid":
        msg = f"kind must be 'meter', 'battery' or 'pv', not {err['input'].get('kind')!r}"
    return f"{where}: {msg}{more}"


def parse_config(data: object) -> FleetConfig:
    """Dict (from JSON) -> FleetConfig, or ConfigError naming the first bad field."""
    try:
        return FleetConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def config_from_flags(
    meters: int,
    batteries: int,
    *,
    port: int = 0,
    transport: str = "tcp",
    per_device: bool = False,
    seed: int = 0,
    accel: float | None = None,
    start: str | None = None,
) -> FleetConfig:
    """A fleet from counts: meters get units 1..M, batteries M+1..M+B.

    Meter i is a household with 1 kW peak (about 10 kWh a day); odd i carry 5 kWp of PV; every
    fifth is a commercial site (20 kW peak, 30 kWp). Batteries are 10 kWh,
    5 kW. With ``per_device`` each device gets its own server (ports port,
    port+1, ... or all ephemeral when port is 0); otherwise all share one.
    """
    if meters < 0 or batteries < 0 or meters + batteries == 0:
        raise ConfigError("need at least one meter or battery (--meters/--batteries)")
    if meters + batteries > 247 and not per_device:
        raise ConfigError("one server holds at most 247 unit ids; use --per-device")
    devices: list[dict] = []
    for i in range(1, meters + 1):
        if i % 5 == 0:
            devices.append(
                {"kind": "meter", "unit": i, "load": "commercial", "load_peak_w": 20000,
                 "pv_kwp": 30.0}
            )  # fmt: skip
        else:
            devices.append(
                {"kind": "meter", "unit": i, "load": "household", "load_peak_w": 1000,
                 "pv_kwp": 5.0 if i % 2 else 0.0}
            )  # fmt: skip
    for j in range(1, batteries + 1):
        devices.append({"kind": "battery", "unit": meters + j})
    if per_device:
        servers = [
            {"name": f"dev{d['unit']}", "transport": transport,
             "port": (port + k) if port else 0, "devices": [d]}
            for k, d in enumerate(devices)
        ]  # fmt: skip
    else:
        servers = [{"name": "bus", "transport": transport, "port": port, "devices": devices}]
    data: dict = {"seed": seed, "accel": accel, "servers": servers}
    if start:
        data["start"] = start
    return parse_config(data)
