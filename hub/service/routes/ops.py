"""/healthz and /metrics: for the process supervisor and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from prometheus_client import REGISTRY, generate_latest

from hub.service import mainchain
from hub.service.deps import DbDep
from hub.service.routing import SettingsRoute
from hub.service.schemas import HealthOut

router = APIRouter(tags=["operations"], route_class=SettingsRoute)


@router.get("/healthz", response_model=HealthOut, summary="Liveness",
            description="Answers while the process serves requests and the database answers.")
def healthz(db: DbDep) -> dict[str, str]:
    mainchain.main_head(db)
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus counters",
            description="Refusals by reason, blocks accepted and duplicated, alarms, main "
                        "blocks; plus the allocation and carbon counters.")
def metrics_text() -> str:
    return generate_latest(REGISTRY).decode()
