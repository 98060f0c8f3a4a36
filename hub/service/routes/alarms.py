"""/v1/alarms: equivocation and fork alarms, for operators and auditors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from edge.protocol.types import KEY_ID_PATTERN
from hub.service import alarms
from hub.service.deps import DbDep
from hub.service.routing import SettingsRoute
from hub.service.schemas import MAX_INT, AlarmsOut

router = APIRouter(prefix="/v1", tags=["alarms"], route_class=SettingsRoute)


@router.get("/alarms", response_model=AlarmsOut, summary="Equivocation and fork alarms",
            description="Oldest first, after the alarm id `after`; filter by `edge`.")
def get_alarms(
    db: DbDep,
    edge: Annotated[str | None, Query(pattern=KEY_ID_PATTERN)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return {"alarms": [a.as_dict() for a in alarms.list_alarms(db, edge, after, limit)]}
