"""JSON formats of a game (market form or table form), shared by the CLI and the API.

Both entry points read the same pydantic models, so a file that the command
line accepts is a body that the API accepts, and the errors name the same
fields. Every rejection is counted in ``BAD_INPUT`` by the field that was
wrong (the first one pydantic reports, or the one our own checks name), once,
where it is answered: the API's refusal or the command line's error.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Literal

from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from hub.allocation import dcopf
from hub.allocation.game import GameError, Structure, TableGame, needed_coalitions
from hub.allocation.limits import LIMITS
from hub.allocation.market import Entity, Market, MarketGame

BAD_INPUT = Counter(
    "carbon_owen_bad_input_total",
    "Games and requests rejected by the Owen allocation, by the field that was wrong",
    ["field"],
)

Price = Annotated[StrictInt, Field(ge=0, lt=2**31, description="micro-currency per kWh")]
Energy = Annotated[StrictInt, Field(ge=0, lt=2**31, description="Wh per interval")]
Name = Annotated[str, Field(min_length=1, max_length=128)]
#: A table value: bounded so that exact sums stay small integers and reports finite floats.
TableValue = (
    Annotated[StrictInt, Field(ge=-LIMITS.max_abs_table_value, le=LIMITS.max_abs_table_value)]
    | Annotated[float, Field(ge=-LIMITS.max_abs_table_value, le=LIMITS.max_abs_table_value,
                             allow_inf_nan=False)]
    | Annotated[str, Field(max_length=64, pattern=r"^-?[0-9]{1,18}(\.[0-9]{1,18})?(/[0-9]{1,18})?$",
                           description="exact decimal or fraction text, e.g. '1/3', '0.25'")]
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class GeneratorIn(_Model):
    """A generator: offer price, bounds and emission intensity."""

    id: Name
    region: Name = Field(description="the union (region) the entity belongs to")
    bus: Name | None = Field(None, description="network bus; defaults to the region")
    qmin_wh: Energy = 0
    qmax_wh: Energy
    price: Price = Field(description="offer, micro-currency per kWh")
    intensity_g_per_kwh: Annotated[StrictInt, Field(ge=0, le=10_000)] = Field(
        description="g CO2 per kWh (= kg/MWh; 0.95 tCO2/MWh is 950)"
    )
    tech: str = Field("", max_length=32, description="label for reports: pv, wind, coal...")


class LoadIn(_Model):
    """A load: bid price and bounds."""

    id: Name
    region: Name
    bus: Name | None = None
    qmin_wh: Energy = 0
    qmax_wh: Energy
    price: Price = Field(description="bid, micro-currency per kWh")


class LineIn(_Model):
    id: Name
    from_bus: Name = Field(alias="from")
    to_bus: Name = Field(alias="to")
    x: float = Field(gt=0, description="series reactance, any consistent unit (p.u.)")
    limit_w: Annotated[StrictInt, Field(ge=0)] | None = Field(
        None, description="thermal limit in W; null or absent = unlimited"
    )


class NetworkIn(_Model):
    buses: list[Name] = Field(min_length=1, max_length=LIMITS.max_buses)
    slack: Name | None = Field(None, description="reference bus; defaults to the first")
    lines: list[LineIn] = Field(max_length=LIMITS.max_lines)


class MarketGameIn(_Model):
    """A game given as a market: v(S) = emissions (mg CO2) of the market cleared with S."""

    kind: Literal["market"] = "market"
    interval_s: Annotated[StrictInt, Field(gt=0)] = 3600
    regions: list[Name] | None = Field(None, max_length=LIMITS.max_players,
                                       description="union order; default: first seen")
    generators: list[GeneratorIn] = Field(max_length=LIMITS.max_players)
    loads: list[LoadIn] = Field(max_length=LIMITS.max_players)
    network: NetworkIn | None = None


class TableGameIn(_Model):
    """A game given as a table: coalition "a,b,c" -> v (the empty coalition is 0)."""

    kind: Literal["table"]
    unions: dict[Name, Annotated[list[Name], Field(max_length=LIMITS.max_players)]] = Field(
        min_length=1, max_length=LIMITS.max_players)
    values: dict[str, TableValue] = Field(max_length=LIMITS.max_table_values)


GameIn = Annotated[MarketGameIn | TableGameIn, Field(discriminator="kind")]


class GameFile(_Model):
    game: GameIn


def bad(field: str, message: str) -> GameError:
    """The error to raise for ``field`` (counted under it when the refusal is answered)."""
    return GameError(message, field)


def count(exc: GameError, default: str = "game") -> None:
    """Count one answered refusal under its field."""
    BAD_INPUT.labels(field=exc.field or default).inc()


def parse_game(data: object) -> MarketGameIn | TableGameIn:
    """Validate raw JSON (a game, or {"game": ...}) into a model; GameError names the field."""
    if isinstance(data, dict) and "game" in data and "kind" not in data:
        data = data["game"]
    if isinstance(data, dict) and "kind" not in data:
        data = {**data, "kind": "market"}
    try:
        return GameFile.model_validate({"game": data}).game
    except ValidationError as exc:
        raise validation_error(exc, strip=1) from None


def validation_error(exc: ValidationError, strip: int = 0) -> GameError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"][strip:]]
    if len(loc) > 1 and loc[0] in ("market", "table"):
        loc = loc[1:]
    where = ".".join(loc) or "game"
    return bad(where, f"{where}: {err['msg']}")


def market_from(model: MarketGameIn) -> Market:
    net = None
    if model.network is not None:
        n = model.network
        try:
            net = dcopf.Network(
                tuple(n.buses),
                tuple(dcopf.Line(ln.id, ln.from_bus, ln.to_bus, ln.x, ln.limit_w)
                      for ln in n.lines),
                n.slack or n.buses[0],
            )
        except ValueError as exc:
            raise bad("network", str(exc)) from None
    gens = tuple(
        Entity(g.id, "gen", g.region, g.qmin_wh, g.qmax_wh, g.price, g.intensity_g_per_kwh,
               g.bus or "", g.tech)
        for g in model.generators
    )
    loads = tuple(
        Entity(ld.id, "load", ld.region, ld.qmin_wh, ld.qmax_wh, ld.price, 0, ld.bus or "")
        for ld in model.loads
    )
    regions = tuple(model.regions or ())
    if regions and len(set(regions)) != len(regions):
        raise bad("regions", "regions: duplicate region name")
    try:
        return Market(gens, loads, net, model.interval_s, regions)
    except GameError as exc:
        msg = str(exc)
        field = "generators" if msg.startswith("gen") else "loads" if msg.startswith("load") \
            else msg.split(":")[0]
        raise bad(field, msg) from None


def table_from(model: TableGameIn) -> TableGame:
    try:
        st = Structure.from_unions(model.unions)
    except GameError as exc:
        raise bad("unions", str(exc)) from None
    index = {p: i for i, p in enumerate(st.players)}
    table: dict[int, Fraction | int] = {}
    for key, raw in model.values.items():
        names = [s.strip() for s in key.split(",") if s.strip()]
        mask = 0
        for p in names:
            if p not in index:
                raise bad("values", f"values[{key!r}]: unknown player {p!r}")
            if mask >> index[p] & 1:
                raise bad("values", f"values[{key!r}]: player {p!r} listed twice")
            mask |= 1 << index[p]
        if mask in table:
            raise bad("values", f"values[{key!r}]: the same coalition is listed twice")
        try:
            v = raw if isinstance(raw, int) else Fraction(str(raw))
        except (ValueError, ZeroDivisionError):
            raise bad("values", f"values[{key!r}]: {raw!r} is not a number") from None
        if isinstance(v, Fraction) and v.denominator == 1:
            v = v.numerator
        table[mask] = v
    if table.get(0, 0) != 0:
        raise bad("values", "values['']: the empty coalition must be worth 0")
    for mask in needed_coalitions(st):
        if mask and mask not in table:
            names = ",".join(st.members(mask))
            raise bad("values", f"values: coalition {names!r} is missing (the Owen value "
                                "needs every union of whole unions plus part of one more)")
    return TableGame(st, table)


def game_from(model: MarketGameIn | TableGameIn) -> MarketGame | TableGame:
    return MarketGame(market_from(model)) if model.kind == "market" else table_from(model)
