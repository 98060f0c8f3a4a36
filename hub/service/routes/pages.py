"""`/`: the hub's page for operators (hub.service.dashboard draws it from what is read here)."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from edge.protocol.identity import public_id
from hub.service.dashboard import EdgeRow, HubView, render_hub_page
from hub.service.db import Database
from hub.service.deps import ClockDep, DbDep, HubKey
from hub.service.models import Alarm, Edge, EdgeBlock, MainBlock, MainEntry, PriceSignalRow

router = APIRouter(tags=["pages"])

#: How much of each history the page reads: enough for the charts, bounded for big hubs
MAIN_BLOCKS, SIGNALS, ALARMS = 500, 500, 50


def hub_view(db: Database, hub_id: str, wall_ms: int) -> HubView:
    with db.session() as s:
        heads = dict(s.execute(select(EdgeBlock.edge_id, func.max(EdgeBlock.height))
                               .group_by(EdgeBlock.edge_id)).all())
        pushed = dict(s.execute(select(EdgeBlock.edge_id, func.max(EdgeBlock.received_ms))
                                .group_by(EdgeBlock.edge_id)).all())
        anchored = dict(s.execute(select(MainEntry.edge_id, func.max(MainEntry.edge_height))
                                  .group_by(MainEntry.edge_id)).all())
        edges = [EdgeRow(e.name, e.edge_id, e.site, e.status, heads.get(e.edge_id, -1),
                         anchored.get(e.edge_id, -1), pushed.get(e.edge_id))
                 for e in s.scalars(select(Edge))]
        mains = [(m.height, int(json.loads(m.header)["ts"]), m.ntx) for m in s.scalars(
            select(MainBlock).order_by(MainBlock.height.desc()).limit(MAIN_BLOCKS))][::-1]
        alarms = [(a.kind, f"edge {a.edge_id[:12]}… at height {a.height}", a.ts_ms)
                  for a in s.scalars(select(Alarm).order_by(Alarm.id.desc()).limit(ALARMS))]
        prices = [json.loads(p.body) for p in s.scalars(
            select(PriceSignalRow).order_by(PriceSignalRow.id.desc()).limit(SIGNALS))]
    return HubView(hub_id=hub_id, wall_ms=wall_ms, edges=edges, main_blocks=mains,
                   alarms=alarms, prices=prices)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page(db: DbDep, clock: ClockDep, key: HubKey) -> str:
    return render_hub_page(hub_view(db, public_id(key.public_key()), clock.wall_ms()))
