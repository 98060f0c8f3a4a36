"""/v1/prices: signed price signals per site (published by the operator, polled by edges)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictInt

from edge.protocol.messages import CarbonBidAdvice
from hub.allocation.api import PricesRequest, PricesResponse, price_ladder
from hub.allocation.report import ladder_report
from hub.allocation.signal import protocol_signal
from hub.service import prices
from hub.service.deps import ClockDep, DbDep, HubKey, Operator
from hub.service.routing import SettingsRoute
from hub.service.schemas import (
    MAX_INT,
    ErrorOut,
    Interval,
    PricesOut,
    PublishIn,
    SiteId,
)


class PublishAllocationIn(PricesRequest):
    """An allocation request (POST /allocation/prices) plus where and when its signal applies."""

    site: SiteId
    valid_from: Interval
    valid_to: Interval
    intensity_g_kwh: Annotated[StrictInt, Field(ge=0, le=100_000)]
    carbon_bid: CarbonBidAdvice | None = None


class AllocatedOut(BaseModel):
    signal: dict[str, Any] = Field(description="the signed edge.protocol PriceSignal, as stored")
    allocation: PricesResponse


router = APIRouter(prefix="/v1/prices", tags=["prices"], route_class=SettingsRoute)
_OPERATOR = {401: {"model": ErrorOut, "description": "missing or wrong operator token"},
             403: {"model": ErrorOut, "description": "operator API disabled"}}


@router.get("", response_model=PricesOut, summary="Price signals for a site",
            description="PriceSignal messages signed by the hub with ts above `after`, oldest "
                        "first; check each with edge.protocol.auth.check_signature and the "
                        "pinned hub id.")
def get_prices(db: DbDep, site: Annotated[SiteId, Query()],
               after: Annotated[int, Query(ge=-1, le=MAX_INT)] = -1) -> dict[str, Any]:
    return {"signals": prices.signals_for(db, site, after)}


@router.post("", response_model=dict[str, Any], responses=_OPERATOR,
             summary="Publish a price signal (operator)",
             description="Signs the fields with the hub key, stamps a ts after the site's "
                         "last signal, stores it; returns the signed PriceSignal.")
def post_prices(body: PublishIn, _op: Operator, db: DbDep, key: HubKey,
                clock: ClockDep) -> dict[str, Any]:
    fields = {"v": 1, "type": "price", **body.model_dump(exclude_none=True)}
    return prices.publish(db, key, fields, now_ms=clock.wall_ms())


@router.post("/allocate", response_model=AllocatedOut, responses=_OPERATOR,
             summary="Allocate carbon and publish the price signal (operator)",
             description="One call: the Owen allocation and ladder of POST /allocation/prices "
                         "(same game, tiers, sampler options and limits), turned into the "
                         "site's PriceSignal (hub.allocation.signal.protocol_signal), signed "
                         "by the hub and stored for the edges. Returns the signed signal and "
                         "the allocation report.")
def post_allocate(body: PublishAllocationIn, _op: Operator, db: DbDep, key: HubKey,
                  clock: ClockDep) -> dict[str, Any]:
    game, res, lad, tiers = price_ladder(body)
    fields = protocol_signal(lad, tiers, site=body.site, valid_from=body.valid_from,
                             valid_to=body.valid_to, intensity_g_kwh=body.intensity_g_kwh,
                             carbon_bid=body.carbon_bid.model_dump() if body.carbon_bid else None)
    signal = prices.publish(db, key, fields, now_ms=clock.wall_ms())
    return {"signal": signal, "allocation": ladder_report(game, res, lad, tiers, body.interval)}
