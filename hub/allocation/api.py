"""HTTP API of the allocation: ``POST /allocation/owen`` and ``POST /allocation/prices``.

The hub's service mounts ``router`` (``app.include_router(router)``). Bodies
are the same game JSON as the command line (docs/owen.md). Pydantic rejects
malformed bodies with FastAPI's usual 422; checks that need the whole game
(unknown bus, missing coalition, duplicate id...) answer 422 with
``{"detail": "<field>: <what was wrong>"}``. Both kinds are counted in
``carbon_owen_bad_input_total`` by field (the route class below counts the
ones FastAPI rejects before our handler runs).

The handlers are plain ``def`` so FastAPI runs the CPU-bound clearing in its
thread pool and the event loop stays free.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from hub.allocation.game import GameError
from hub.allocation.ladder import ladder, make_tiers
from hub.allocation.market import MarketGame
from hub.allocation.report import allocate, ladder_report, owen_report
from hub.allocation.schema import BAD_INPUT, GameIn, MarketGameIn, bad, game_from


class _CountingRoute(APIRoute):
    """Counts request bodies that FastAPI rejects, by the first field named."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def counted(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errs = exc.errors()
                loc = [str(p) for p in errs[0]["loc"][1:]] if errs else []
                BAD_INPUT.labels(field=".".join(loc) or "body").inc()
                raise

        return counted


router = APIRouter(prefix="/allocation", tags=["allocation"], route_class=_CountingRoute)


class SamplerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["auto", "exact", "sampled"] = Field(
        "auto", description="auto: exact when the enumeration is small, else sampled"
    )
    rounds: int = Field(8, ge=2, le=10_000, description="sampler rounds (stratified)")
    seed: int = Field(0, description="sampler seed; same seed, same answer")
    target_rel_se: float | None = Field(
        None, gt=0, description="sample until every SE <= this fraction of |v(N)|"
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
    """A market game and the ladder: (fraction, $/t) tiers or the SEEDS p_low/p_high."""

    game: MarketGameIn
    p_low: float = Field(20, ge=0, description="$/t between a_min and a_avg")
    p_high: float = Field(40, ge=0, description="$/t above a_avg")
    tiers: list[tuple[float, float]] | None = Field(
        None, description="general tiers [[fraction, $/t], ...]; overrides p_low/p_high"
    )
    interval: str = Field("", description="interval label copied into the price signal")


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
    signal: dict[str, Any] = Field(description="price-signal payload for the edges")


def _game_error(exc: GameError) -> HTTPException:
    return HTTPException(status_code=422, detail=str(exc))


@router.post("/owen", response_model=OwenResponse, response_model_exclude_none=True,
             summary="Owen values of a game (market or table form)")
def post_owen(req: OwenRequest) -> dict[str, Any]:
    """Allocate v(N) to the players by the Owen value, unions being the regions."""
    try:
        game = game_from(req.game)
        res = allocate(game, req.method, req.rounds, req.seed, req.target_rel_se)
    except GameError as exc:
        raise _game_error(exc) from None
    return owen_report(game, res)


@router.post("/prices", response_model=PricesResponse,
             summary="Ladder carbon price, adders, revised quotations and re-clearing")
def post_prices(req: PricesRequest) -> dict[str, Any]:
    """Carbon costs from the Owen allocation, per-entity adders and the price signal."""
    try:
        tiers = make_tiers(req.p_low, req.p_high,
                           [list(t) for t in req.tiers] if req.tiers is not None else None)
    except ValueError as exc:
        raise _game_error(bad("tiers", str(exc))) from None
    try:
        game = game_from(req.game)
        assert isinstance(game, MarketGame)
        res = allocate(game, req.method, req.rounds, req.seed, req.target_rel_se)
        lad = ladder(game.market, res, tiers)
    except GameError as exc:
        raise _game_error(exc) from None
    except ValueError as exc:  # an offer plus adder beyond 2^31
        raise _game_error(bad("game", str(exc))) from None
    return ladder_report(game, res, lad, tiers, req.interval)
