"""A scenario: one TOML file that says what a simulated day contains.

The grid (a pandapower case), the substations (one edge each), the gateways
with their meters and batteries and the bus each sits on, the market
settings, the day and its start, the clock speed-up, the seed and a fault
schedule. `load_scenario` turns a file into a checked `Scenario` or raises
`ScenarioError` with one sentence naming the key and the fix, because a
tester who mistypes a key must not get a silent default.

Shipped scenarios live in `simulator/scenarios/`; `--scenario NAME` picks one
of them and `--scenario PATH` any file.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SHIPPED = Path(__file__).resolve().parent / "scenarios"
DEFAULT = "ieee33-pv"
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the key and how to fix it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Day(_Strict):
    """When the day runs and how fast."""

    date: dt.date = dt.date(2024, 6, 21)
    start: str = Field("00:00", description="HH:MM of the first simulated interval")
    intervals: int = Field(96, ge=1, le=96 * 7)
    interval_s: int = Field(900, ge=60, le=3600)
    wall_s_per_interval: float = Field(1.8, gt=0.05, le=900)
    latitude: float = Field(48.0, ge=-90, le=90)
    lockstep: bool = Field(False, description="one stepped market clock for every part: "
                           "the same seed gives the same clearing (simulator/lockstep.py)")
    step_s: int = Field(30, ge=1, le=900, description="market seconds per lock step")

    @model_validator(mode="after")
    def _start(self) -> Day:
        if not HHMM.match(self.start):
            raise ValueError(f"start must be HH:MM (24 h), not {self.start!r}")
        if self.lockstep and self.interval_s % self.step_s:
            raise ValueError(f"step_s {self.step_s} must divide interval_s {self.interval_s}")
        return self

    @property
    def start_ms(self) -> int:
        h, m = (int(x) for x in self.start.split(":"))
        midnight = dt.datetime.combine(self.date, dt.time(0, 0), tzinfo=dt.timezone.utc)
        return int(midnight.timestamp() * 1000) + (h * 60 + m) * 60_000

    @property
    def accel(self) -> int:
        return max(1, int(self.interval_s / self.wall_s_per_interval))


class Grid(_Strict):
    """The network the carbon flow is traced on."""

    case: str = Field("case33bw", description="a pandapower.networks case name")
    trace_every: int = Field(1, ge=0, le=96, description="intervals between tracings (0 = off)")


class Market(_Strict):
    """The local market; a round needs about half a wall second for firmware gateways to
    verify a result and send (or seal) a revision: round_s / day.accel >= 0.4 s."""

    gate_s: int = Field(450, ge=0)
    round_s: int = Field(225, ge=1)
    max_rounds: int = Field(3, ge=1, le=20)
    strategy: Literal["best-response", "toward-price"] = "best-response"
    sealed: bool = False
    default_intensity_g_kwh: int = Field(420, ge=0, le=5000)


class Hub(_Strict):
    """The central hub: simulated here (url empty) or a real one at `url`.

    A real hub is reached with the names its edges and its operator already use:
    `url`, `hub_id` and `ca` as in an edge's `[sync]` section, `operator_token_file`
    as in `hub serve --operator-token-file`. The simulator then starts no hub: it
    registers its edges there with the operator token, publishes prices and runs
    allocation periods there, and checks the day's anchors against it.
    """

    url: str = Field("", description="a real hub's base URL (empty: the simulator runs one)")
    hub_id: str = Field("", description="a real hub's public id to pin (empty: the one it "
                                        "announces at /v1/hub, printed in the report)")
    ca: str = Field("", description="PEM file of the CA that signed a real hub's certificate")
    operator_token_file: str = Field("", description="a file holding a real hub's operator "
                                                     "token (first line)")
    allow_insecure_http: bool = Field(False, description="let a real hub's url be http:// "
                                                         "(a closed test network only)")
    allocation: bool = Field(False, description="run the Owen/ladder loop each hour")
    main_block_s: float = Field(2.0, gt=0, le=3600, description="wall seconds between main "
                                                               "blocks")

    @model_validator(mode="after")
    def _real(self) -> Hub:
        real_only = [k for k in ("hub_id", "ca", "operator_token_file") if getattr(self, k)]
        if not self.url:
            if real_only:
                raise ValueError(f"{real_only[0]} is for a real hub: set url = "
                                 "\"https://host:port\" too, or remove it")
            return self
        if not re.match(r"^https?://[^/\s]+/?$", self.url):
            raise ValueError(f"url must be the hub's base URL, e.g. https://hub.example.org:8443,"
                             f" not {self.url!r}")
        if self.url.startswith("http://") and not self.allow_insecure_http:
            raise ValueError("url is plain http://: use https:// (or set allow_insecure_http ="
                             " true on a closed test network)")
        if self.hub_id and not re.fullmatch(r"[0-9a-f]{64}", self.hub_id):
            raise ValueError("hub_id must be the hub's public id, 64 lowercase hex digits "
                             "(carbon-edge chain pubkey of its key, or GET /v1/hub)")
        if not self.operator_token_file:
            raise ValueError("a real hub (url) needs operator_token_file: the file with its "
                             "operator token, to register the simulated edges and publish "
                             "prices")
        return self


class Substation(_Strict):
    """One substation: one edge hub, its broker and its gateways.

    With `edge_url` the edge and its broker are real ones (simulator/edgeremote.py):
    the simulator runs only the devices and gateways, against `broker_host` and
    `broker_port` with the credentials in the `credentials` folder.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    edge_url: str = Field("", description="a real edge's status URL instead of a simulated one")
    broker_host: str = Field("127.0.0.1", pattern=r"^[A-Za-z0-9.:-]{1,253}$",
                             description="a real edge's broker: host name or address")
    broker_port: int = Field(0, ge=0, le=65535, description="a real edge's broker: TLS port")
    credentials: str = Field("", description="a real edge's gateway credentials: a folder "
                                             "with ca.pem, GW.pem, GW.key, GW.hmac")

    @model_validator(mode="after")
    def _real(self) -> Substation:
        if not self.edge_url:
            if self.broker_port or self.credentials:
                raise ValueError("broker_port and credentials are for a real edge: set "
                                 "edge_url too, or remove them")
            return self
        if not re.match(r"^https?://[^/\s]+/?$", self.edge_url):
            raise ValueError(f"edge_url must be the edge's status page, e.g. "
                             f"http://10.0.0.7:8080, not {self.edge_url!r}")
        if not self.broker_port:
            raise ValueError("a real edge (edge_url) needs broker_port: the TLS port of its "
                             "Mosquitto, where the simulated gateways connect")
        if not self.credentials:
            raise ValueError("a real edge (edge_url) needs credentials: the folder with the "
                             "gateway credentials its operator gives (ca.pem, GW.pem, GW.key,"
                             " GW.hmac)")
        return self


class Meter(_Strict):
    load: Literal["household", "commercial", "none"] = "household"
    load_peak_w: int = Field(1000, ge=0, le=1_000_000)
    pv_kwp: float = Field(0.0, ge=0, le=1000)
    cloudiness: float = Field(0.3, ge=0, le=1)


class Battery(_Strict):
    capacity_wh: int = Field(10_000, gt=0, le=10_000_000)
    max_w: int = Field(5000, gt=0, le=1_000_000)
    soc_init_pct: float = Field(50, ge=0, le=100)


class Gateway(_Strict):
    """A prosumer's gateway: a meter, maybe a battery, the bus it sits on, its limits."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    substation: str
    bus: int = Field(ge=0, le=100_000, description="pandapower bus index")
    role: Literal["prosumer", "pvp", "cec"] = "prosumer"
    meter: Meter = Meter()
    battery: Battery | None = None
    sell_min: int = Field(50_000, ge=0, le=10_000_000, description="micro-currency per kWh")
    buy_max: int = Field(250_000, ge=0, le=10_000_000, description="micro-currency per kWh")


FaultKind = Literal["broker-restart", "hub-down", "gateway-reboot", "meter-garbage",
                    "clock-skew", "poison"]


class Fault(_Strict):
    at: str = Field(description="HH:MM of simulated time")
    kind: FaultKind
    target: str = Field("", description="gateway or substation id, where the kind needs one")
    duration_s: int = Field(0, ge=0, le=86_400, description="simulated seconds it lasts")
    skew_s: int = Field(0, ge=-3600, le=3600, description="clock-skew: seconds off")

    @model_validator(mode="after")
    def _at(self) -> Fault:
        if not HHMM.match(self.at):
            raise ValueError(f"at must be HH:MM (24 h), not {self.at!r}")
        return self


class CarbonMarket(_Strict):
    """One clearing cycle of the carbon market after the day (simulator/carbontrade.py)."""

    enabled: bool = False
    delta_g_per_kwh: int = Field(820, ge=0, le=5000, description="g CO2 avoided per PV kWh "
                                 "(default: IPCC AR5 coal median, docs/carbon-market.md)")
    cec_allowance_g: int = Field(40_000, ge=0, le=10**12, description="a consumer's "
                                 "benchmark allowance for a day; a shorter run gets its share")
    cec_allowance: dict[str, Annotated[int, Field(ge=0, le=10**12)]] = Field(
        default_factory=dict, description="per-consumer allowances for a day (gateway id -> g)")
    pvp_ask: int = Field(50_000, ge=0, le=10**9, description="micro-currency per kg CO2")
    cec_bid: int = Field(80_000, ge=0, le=10**9, description="a short consumer's bid")
    cec_ask: int = Field(60_000, ge=0, le=10**9, description="a long consumer's ask")
    gateway_policy: Literal["off", "limit", "advised"] = Field(
        "off", description="the PVP and CEC gateways' carbon policy (firmware policy.carbon_bid): "
        "off = the hub assembles the book from the prices above; limit or advised = each "
        "gateway sends its carbon bid (a PVP sells at pvp_ask, a CEC buys at cec_bid as its "
        "limit) and the book's prices are the carbon bids found in the edge blocks the hub holds")
    cec_sells: list[str] = Field(default_factory=list, description="CEC gateways whose carbon "
                                 "policy sells (at cec_ask): the ones expected to be long")


class Scenario(_Strict):
    name: str
    description: str = ""
    seed: int = Field(7, ge=0, le=2**32 - 1)
    day: Day = Day()
    grid: Grid = Grid()
    market: Market = Market()
    hub: Hub = Hub()
    substations: Annotated[list[Substation], Field(min_length=1, max_length=16)]
    gateways: Annotated[list[Gateway], Field(min_length=1, max_length=200)]
    faults: list[Fault] = []
    carbon_market: CarbonMarket = CarbonMarket()

    @model_validator(mode="after")
    def _links(self) -> Scenario:
        subs = [s.id for s in self.substations]
        if len(set(subs)) != len(subs):
            raise ValueError(f"substation ids must be unique: {subs}")
        gws = [g.id for g in self.gateways]
        if len(set(gws)) != len(gws):
            raise ValueError(f"gateway ids must be unique: {gws}")
        for g in self.gateways:
            if g.substation not in subs:
                raise ValueError(f"gateway {g.id} names substation {g.substation!r}, which is "
                                 f"not one of {subs}: add it under [[substations]]")
            if g.sell_min > g.buy_max * 4:
                raise ValueError(f"gateway {g.id}: sell_min {g.sell_min} is far above buy_max "
                                 f"{g.buy_max}; prices are micro-currency per kWh")
        real = [s.id for s in self.substations if s.edge_url]
        if real and not self.hub.url:
            raise ValueError(f"substations {real} name a real edge, which syncs to its own hub:"
                             " set [hub] url (and its settings) to that hub, whose copy of "
                             "the edge's chain the day is checked against")
        for f in self.faults:
            if f.kind == "broker-restart" and real and f.target in ("", *real):
                raise ValueError(f"fault broker-restart at {f.at}: the broker of a real edge "
                                 f"({real}) is not the simulator's to kill; target a simulated"
                                 " substation")
            needs = f.kind in ("gateway-reboot", "meter-garbage", "clock-skew", "poison")
            if needs and f.target not in gws:
                raise ValueError(f"fault {f.kind} at {f.at} needs target = one of the gateway "
                                 f"ids {gws}")
            if f.kind == "broker-restart" and f.target and f.target not in subs:
                raise ValueError(f"fault broker-restart at {f.at}: target {f.target!r} is not "
                                 f"a substation id ({subs})")
            if f.kind == "hub-down" and self.hub.url:
                raise ValueError(f"fault hub-down at {f.at}: the simulator does not stop a real "
                                 "hub (hub.url); remove the fault or leave hub.url empty")
        roles = {g.id: g.role for g in self.gateways}
        for what, names in (("cec_allowance", self.carbon_market.cec_allowance),
                            ("cec_sells", self.carbon_market.cec_sells)):
            for gw in names:
                if roles.get(gw) != "cec":
                    raise ValueError(f"carbon_market.{what} names {gw!r}, which is not a "
                                     f"gateway with role cec")
        return self

    def gateways_of(self, substation: str) -> list[Gateway]:
        return [g for g in self.gateways if g.substation == substation]

    def shortened(self, intervals: int | None = None, start: str | None = None) -> Scenario:
        """The same scenario over fewer intervals or from another start time."""
        day = self.day.model_copy(update={
            **({"intervals": intervals} if intervals is not None else {}),
            **({"start": start} if start is not None else {})})
        Day.model_validate(day.model_dump())
        return self.model_copy(update={"day": day})


def _explain(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key: remove it or check its spelling against docs/simulator.md"
    elif err["type"] == "missing":
        msg = "required key is missing: add it (see simulator/scenarios/ieee33-pv.toml)"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {where}: {msg}{more}"


def parse_scenario(data: object, source: str = "scenario") -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_explain(exc, source)) from None


def shipped() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    """A shipped scenario's name, or a path to a TOML file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or "/" in name_or_path:
        if not p.is_file():
            raise ScenarioError(f"no scenario file {name_or_path}")
        return p
    q = SHIPPED / f"{name_or_path}.toml"
    if not q.is_file():
        raise ScenarioError(f"no shipped scenario {name_or_path!r}; choose one of "
                            f"{', '.join(shipped())} or give a path to a .toml file")
    return q


def load_scenario(name_or_path: str = DEFAULT) -> Scenario:
    path = resolve(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return with_paths_from(parse_scenario(data, str(path.name)), path.parent)


def with_paths_from(sc: Scenario, base: Path) -> Scenario:
    """File settings (a real hub's CA and token file, a real edge's credentials) relative to
    the scenario's folder."""
    files = {k: str(base / v) for k in ("ca", "operator_token_file")
             if (v := getattr(sc.hub, k)) and not Path(v).is_absolute()}
    subs = [s.model_copy(update={"credentials": str(base / s.credentials)})
            if s.credentials and not Path(s.credentials).is_absolute() else s
            for s in sc.substations]
    return sc.model_copy(update={"hub": sc.hub.model_copy(update=files), "substations": subs})
