"""/v1/periods and /v1/main/supervisors: the loop's records with their proofs, and runs by hand.

GET routes are public (the records are on the main chain anyway): each
returns the main block's header and its records, every record with its
inclusion proof (check with hub.period.proofs.check_record, i.e. the edge's
own proof check and the pinned hub id). POST routes are operator calls that
do by hand what the schedule does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam

from hub.period import store
from hub.period.service import PeriodLoop
from hub.service.deps import DbDep, Operator
from hub.service.routing import SettingsRoute
from hub.service.schemas import MAX_INT, ErrorOut

router = APIRouter(prefix="/v1", tags=["allocation loop"], route_class=SettingsRoute)
main = APIRouter(prefix="/main", route_class=SettingsRoute)  # what the main chain records
Start = Annotated[int, PathParam(ge=0, le=MAX_INT, description="start, unix seconds")]
_OP = {400: {"model": ErrorOut, "description": "not aligned, not started (or, for an epoch, "
                                               "not over), or a period that cannot be allocated"},
       401: {"model": ErrorOut, "description": "missing or wrong operator token"},
       403: {"model": ErrorOut, "description": "operator API disabled"}}
_404 = {404: {"model": ErrorOut, "description": "not recorded"}}


def _loop(request: Request) -> PeriodLoop:
    return request.app.state.period_loop


@router.get("/periods/{period}", responses=_404, summary="A recorded market period",
            description="The period's main block (header, records with inclusion proofs) and "
                        "the regional reports whose digests it holds.")
def get_period(period: Start, db: DbDep) -> dict[str, Any]:
    return store.period_view(db, period)


@router.post("/periods/{period}/run", responses=_OP, summary="Run a market period now (operator)",
             description="Collect the regional reports, allocate, record the period's main "
                         "block and publish the price signals; a recorded period is answered "
                         "as it is (created false).")
def run_period(period: Start, request: Request, _op: Operator) -> dict[str, Any]:
    return _loop(request).run_period(period)


@main.get("/supervisors", responses=_404, summary="The current supervisor set",
            description="The supervisors chosen by the latest recorded scoring epoch, with the "
                        "record (scoring inputs) and its inclusion proof.")
def get_supervisors(db: DbDep) -> dict[str, Any]:
    return store.supervisors_view(db)


@router.post("/epochs/{epoch}/run", responses=_OP, summary="Score an epoch now (operator)",
             description="Record the epoch's scoring inputs and chosen supervisors on the main "
                         "chain; a recorded epoch is answered as it is.")
def run_epoch(epoch: Start, request: Request, _op: Operator) -> dict[str, Any]:
    return _loop(request).run_epoch(epoch)


router.include_router(main)
