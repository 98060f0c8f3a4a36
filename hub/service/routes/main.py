"""/v1/hub and /v1/main/...: the hub's identity and its main chain."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam

from edge.chain.keys import PrivateKey
from edge.clock import Clock
from hub.service import mainchain
from hub.service.db import Database
from hub.service.deps import ClockDep, DbDep, HubKey, Operator
from hub.service.errors import NotFound
from hub.service.metrics import MAIN_BLOCKS
from hub.service.routing import SettingsRoute
from hub.service.schemas import MAX_INT, ErrorOut, HubOut, MainBlockOut, MainMade

log = logging.getLogger("hub.service")
router = APIRouter(prefix="/v1", tags=["main chain"], route_class=SettingsRoute)
chain = APIRouter(prefix="/main", route_class=SettingsRoute)  # the main chain's own paths
Height = Annotated[int, PathParam(ge=0, le=MAX_INT)]
_404 = {404: {"model": ErrorOut, "description": "no such main block"}}


def make_main(db: Database, key: PrivateKey, clock: Clock) -> mainchain.MainBlockInfo | None:
    """One main block now (the schedule and the operator call), counted and logged."""
    made = mainchain.make_main_block(db, key, clock.wall_ms())
    if made is not None:
        MAIN_BLOCKS.inc()
        log.info("main block %d anchors %d edge heads", made.header.height, len(made.entries))
    return made


@router.get("/hub", response_model=HubOut, summary="Hub identity",
            description="The hub's public id (pin it in edge configs) and main-chain height.")
def hub_info(db: DbDep, key: HubKey) -> dict[str, Any]:
    from edge.chain.keys import public_id

    head = mainchain.main_head(db)
    return {"hub_id": public_id(key.public_key()),
            "main_height": -1 if head is None else head.height, "database": db.dialect}


@chain.get("/head", response_model=MainBlockOut, responses=_404,
            summary="The newest main block")
def get_main_head(db: DbDep) -> dict[str, Any]:
    head = mainchain.main_head(db)
    if head is None:
        raise NotFound("no_main_block", "the hub has made no main block yet")
    return mainchain.main_block(db, head.height).as_dict()


@chain.get("/blocks/{height}", response_model=MainBlockOut, responses=_404,
            summary="One main block", description="Header and the anchored edge heads.")
def get_main_block(height: Height, db: DbDep) -> dict[str, Any]:
    return mainchain.main_block(db, height).as_dict()


@chain.post("/blocks", response_model=MainMade,
             responses={401: {"model": ErrorOut, "description": "missing or wrong token"},
                        403: {"model": ErrorOut, "description": "operator API disabled"}},
             summary="Make a main block now (operator)",
             description="What the schedule does, on demand: anchor every moved edge head.")
def post_main_block(_op: Operator, db: DbDep, key: HubKey, clock: ClockDep) -> dict[str, Any]:
    made = make_main(db, key, clock)
    return {"created": made is not None, "block": None if made is None else made.as_dict()}


router.include_router(chain)
