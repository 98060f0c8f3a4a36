"""HTTP API of the allocation: ``POST /allocation/owen`` and ``POST /allocation/prices``.

The hub's service mounts ``router`` (``app.include_router(router)``). Bodies
are the same game JSON as the command line (docs/owen.md). Pydantic rejects
malformed bodies with a 422; checks that need the whole game (unknown bus,
missing coalition, duplicate id...) answer 422. Every refusal has the hub's
one shape, ``{"detail": {"reason", "message", "field", "limit"}}``
(hub.service.errors). Both kinds are counted in
``carbon_owen_bad_input_total`` by field (the hub's route class counts the
ones refused before our handler runs).

Every request is priced before it runs (hub.allocation.limits): a body over
``max_body_bytes`` answers 413, a game or a piece of work over a limit answers
422 naming the field and the limit, so no body can hold a worker for long.

The handlers are plain ``def`` so FastAPI runs the CPU-bound clearing in its
thread pool and the event loop stays free.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hub.allocation.game import GameError, Memo, TableGame
from hub.allocation.ladder import LadderResult, Tiers, ladder, make_tiers
from hub.allocation.limits import LIMITS, sampled_reads_per_round, table_values_needed
from hub.allocation.market import MarketGame
from hub.allocation.owen import EXACT_LIMIT, OwenResult, exact_cost, owen_exact, owen_sampled
from hub.allocation.report import ladder_report, owen_report
from hub.allocation.schema import (
    BAD_INPUT,
    GameIn,
    MarketGameIn,
    TableGameIn,
    bad,
    count,
    game_from,
)
from hub.service.errors import HubError
from hub.service.routing import hub_route
from hub.service.schemas import ErrorOut


def _count(refusal: HubError) -> None:
    """Refusals the hub's route class makes here (body, JSON, schema), by field."""
    BAD_INPUT.labels(field=refusal.extra.get("field") or "body").inc()


router = APIRouter(prefix="/allocation", tags=["allocation"],
                   route_class=hub_route(LIMITS.max_body_bytes, _count))


_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "body larger than max_body_bytes (docs/hub.md)"},
    422: {"model": ErrorOut, "description": "a bad field, or work beyond an API limit: the "
                                            "detail names the field and the limit"},
}

_Finite = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]


class SamplerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    method: Literal["auto", "exact", "sampled"] = Field(
        "auto", description="auto: exact when the enumeration is small (at most "
        f"{EXACT_LIMIT} coalitions and within the work limit), else sampled. exact is "
        f"refused above {LIMITS.max_exact_coalitions} coalitions (max_exact_coalitions) "
        "or above the game's clearing budget",
    )
    rounds: int = Field(
        8, ge=2, le=LIMITS.max_rounds,
        description="sampler rounds (stratified); rounds x values per round must fit the "
        f"game's budget: {LIMITS.max_exact_coalitions} reads for a table, "
        f"{LIMITS.max_clearings} clearings for a market ({LIMITS.max_lp_clearings} with "
        "line limits)",
    )
    seed: int = Field(0, ge=-(2**63), lt=2**63, description="sampler seed; same seed, same "
                      "answer")
    target_rel_se: float | None = Field(
        None, gt=0, description="sample until every SE <= this fraction of |v(N)|, "
        f"stopping at {LIMITS.max_rounds} rounds or the game's budget, whichever is first "
        "(the answer's rounds and max_se say where it stopped)",
    )


class OwenRequest(SamplerOptions):
    """A game as a market or as a table of v(S)."""

    game: GameIn


class PlayerValue(BaseModel):
    id: str
    union: str
    value: float
    exact: str | None = Field(None, description="exact value as 'p/q' (exact method)")
    se: float | None = Field(None, description="standard error (sampled method)")


class UnionValue(BaseModel):
    id: str
    members: list[str]
    value: float


class OwenResponse(BaseModel):
    method: str
    unit: str = Field(description="'g CO2' for market games, 'value' for tables")
    grand_value: float
    sum_of_values: float
    players: list[PlayerValue]
    unions: list[UnionValue]
    coalitions_evaluated: int
    exact_cost: int
    rounds: int | None = None
    max_se: float | None = None


class PricesRequest(SamplerOptions):
    """A market game and the ladder: (fraction, $/t) tiers or P1's p_low/p_high."""

    game: MarketGameIn
    p_low: _Finite = Field(20, description="$/t between a_min and a_avg")
    p_high: _Finite = Field(40, description="$/t above a_avg")
    tiers: list[tuple[_Finite, _Finite]] | None = Field(
        None, max_length=LIMITS.max_tiers,
        description="general tiers [[fraction, $/t], ...]; overrides p_low/p_high",
    )
    interval: str = Field("", max_length=64,
                          description="interval label copied into the price signal")


class EntityPrice(BaseModel):
    id: str
    side: Literal["gen", "load"]
    region: str
    allocation_g: float
    carbon_cost: float = Field(description="currency units")
    q_wh: int
    price: int
    adder: int = Field(description="micro-currency per kWh")
    new_price: int
    cleared_blind_wh: int
    cleared_revised_wh: int


class PricesResponse(BaseModel):
    tiers: list[dict[str, str]]
    stats_g: dict[str, dict[str, float]]
    entities: list[EntityPrice]
    blind: dict[str, Any]
    revised: dict[str, Any]
    signal: dict[str, Any] = Field(description="the allocation behind the adders (tiers, "
                                   "per-entity adder); edges receive it as a signed PriceSignal "
                                   "published by POST /v1/prices/allocate")


def _refuse(exc: GameError, status: int = 422) -> HubError:
    """The hub's one refusal shape from a GameError's "<field>: <what was wrong>".

    Answering the refusal is where it is counted (once, under the error's field).
    """
    count(exc)
    message = str(exc)
    field, sep, _ = message.partition(": ")
    limit = re.search(r"\(limit (\w+)", message)
    return HubError("bad_input", message, status=status,
                    field=field if sep and " " not in field else None,
                    limit=limit.group(1) if limit else None)


def _check_size(model: MarketGameIn | TableGameIn) -> None:
    """Refuse games beyond the size limits before anything is built from them."""
    if model.kind == "market":
        n = len(model.generators) + len(model.loads)
        if n > LIMITS.max_players:
            raise bad("game", f"game: {n} players (generators + loads); at most "
                              f"{LIMITS.max_players} (limit max_players)")
        return
    sizes = [len(u) for u in model.unions.values()]
    if sum(sizes) > LIMITS.max_players:
        raise bad("game.unions", f"game.unions: {sum(sizes)} players; at most "
                                 f"{LIMITS.max_players} (limit max_players)")
    need = table_values_needed(sizes)
    if need > LIMITS.max_table_values:
        raise bad("game.unions", f"game.unions: these unions need {need} coalition values; "
                                 f"a table may list at most {LIMITS.max_table_values} "
                                 "(limit max_table_values)")


def _budget(game: MarketGame | TableGame) -> tuple[int, str]:
    """The most coalition values this game may read in one request, and the limit's name."""
    if isinstance(game, TableGame):
        return LIMITS.max_exact_coalitions, "max_exact_coalitions"
    net = game.market.network
    if net is not None and net.limited():
        return LIMITS.max_lp_clearings, "max_lp_clearings"
    return LIMITS.max_clearings, "max_clearings"


def _value(game: MarketGame | TableGame, req: SamplerOptions) -> OwenResult:
    """The Owen value within the limits: the work is priced before any of it is done.

    This is hub.allocation.report.allocate with a budget: ``auto`` also falls
    back to sampling when exact would exceed the budget, and the sampler's
    rounds (asked for, or added to reach ``target_rel_se``) stop at the budget.
    """
    st = game.structure
    budget, name = _budget(game)
    cost = exact_cost(st)
    method = req.method
    if method == "auto":
        method = "exact" if cost <= min(EXACT_LIMIT, budget) else "sampled"
    if method == "exact":
        cap, cap_name = min((LIMITS.max_exact_coalitions, "max_exact_coalitions"),
                            (budget, name))
        if cost > cap:
            raise bad("method", f"method: exact reads {cost} coalition values for this game; "
                                f"at most {cap} (limit {cap_name}); use sampled or auto")
        return owen_exact(Memo(game))
    per_round = sampled_reads_per_round([len(u) for u in st.unions])
    most = min(LIMITS.max_rounds, budget // per_round)
    if most < 2:
        raise bad("game", f"game: one sampler round reads up to {per_round} coalition values, "
                          f"and {name} = {budget} allows fewer than the 2 rounds needed "
                          f"(limit {name}); the game is too large for this API")
    if req.rounds > most:
        raise bad("rounds", f"rounds: {req.rounds} rounds read up to "
                            f"{req.rounds * per_round} coalition values; at most {most} "
                            f"rounds for this game (limit {name} = {budget})")
    memo = Memo(game)
    target = None
    if req.target_rel_se is not None:
        target = abs(float(memo.value(st.grand))) * req.target_rel_se
    return owen_sampled(memo, rounds=req.rounds, seed=req.seed, target_se=target,
                        max_rounds=most)


def _run(req: SamplerOptions, model: MarketGameIn | TableGameIn,
         ) -> tuple[MarketGame | TableGame, OwenResult]:
    _check_size(model)
    game = game_from(model)
    try:
        return game, _value(game, req)
    except RuntimeError as exc:  # the network LP failed (solver status), not a server fault
        raise bad("game.network", f"game.network: the clearing LP failed for a coalition "
                                  f"({exc})") from None


_LIMITS_TEXT = (
    f"Work is bounded per request (docs/hub.md, \"API limits\"): at most {LIMITS.max_players} "
    f"players, exact enumeration of at most {LIMITS.max_exact_coalitions} coalitions, and a "
    "budget of coalition values read that exact's cost or rounds x values per round must fit: "
    f"{LIMITS.max_exact_coalitions} table look-ups, {LIMITS.max_clearings} market clearings, "
    f"{LIMITS.max_lp_clearings} when a line has a limit. Beyond: 422 naming field and limit."
)


@router.post("/owen", response_model=OwenResponse, response_model_exclude_none=True,
             responses=_ERRORS, summary="Owen values of a game (market or table form)",
             description="Allocate v(N) to the players by the Owen value, unions being the "
                         "regions. " + _LIMITS_TEXT)
def post_owen(req: OwenRequest) -> dict[str, Any]:
    try:
        game, res = _run(req, req.game)
    except GameError as exc:
        raise _refuse(exc) from None
    return owen_report(game, res)


def price_ladder(req: PricesRequest) -> tuple[MarketGame, OwenResult, LadderResult, Tiers]:
    """The ladder of a prices request within the limits; HubError refusals name the field.

    Shared by POST /allocation/prices and the operator's one-call publish
    (hub.service.routes.prices), which turns the result into a signed
    PriceSignal with hub.allocation.signal.protocol_signal.
    """
    try:
        tiers = make_tiers(req.p_low, req.p_high,
                           [list(t) for t in req.tiers] if req.tiers is not None else None)
    except ValueError as exc:
        raise _refuse(bad("tiers", str(exc))) from None
    try:
        game, res = _run(req, req.game)
        assert isinstance(game, MarketGame)
        return game, res, ladder(game.market, res, tiers), tiers
    except GameError as exc:
        raise _refuse(exc) from None
    except ValueError as exc:  # an offer plus adder beyond 2^31
        raise _refuse(bad("game", str(exc))) from None
    except RuntimeError as exc:  # the revised market's network LP failed
        raise _refuse(bad("game.network", f"game.network: the clearing LP failed for the "
                                          f"revised quotations ({exc})")) from None


@router.post("/prices", response_model=PricesResponse, responses=_ERRORS,
             summary="Ladder carbon price, adders, revised quotations and re-clearing",
             description="Carbon costs from the Owen allocation, per-entity adders and the "
                         "price signal. " + _LIMITS_TEXT)
def post_prices(req: PricesRequest) -> dict[str, Any]:
    game, res, lad, tiers = price_ladder(req)
    return ladder_report(game, res, lad, tiers, req.interval)
