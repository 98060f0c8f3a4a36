"""HTTP endpoints of the carbon tracer: an APIRouter the hub's service includes.

POST /carbon/trace traces one snapshot, POST /carbon/series a day of hourly
snapshots. Both take the network as a built-in case name or as pandapower
JSON. The handlers are plain ``def`` functions so FastAPI runs them in its
thread pool: a power flow of a large case takes a while and must not stall
the event loop. Refused input answers 422 with the field and the reason, and
is counted (``carbon_input_rejected_total``), including bodies that fail
FastAPI's own validation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.carbon.analysis import report_network
from hub.carbon.errors import REJECTED, CarbonInputError, Reason
from hub.carbon.networks import load_case, load_network_json
from hub.carbon.report import CarbonFlowReport
from hub.carbon.series import Profile, SeriesReport, trace_series
from hub.carbon.snapshot import Snapshot


class _CountingRoute(APIRoute):
    """Counts bodies that FastAPI refuses before our handler sees them."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def counted(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                REJECTED.labels(reason=Reason.BAD_REQUEST.value).inc()
                raise

        return counted


router = APIRouter(prefix="/carbon", tags=["carbon"], route_class=_CountingRoute)


class NetworkChoice(BaseModel):
    """Which network: a pandapower built-in case, or a network as pandapower JSON."""

    model_config = ConfigDict(extra="forbid")

    case: str | None = Field(
        default=None, description="pandapower built-in case, e.g. case33bw, case118",
        examples=["case33bw"],
    )
    network: dict[str, Any] | str | None = Field(
        default=None,
        description="a network in pandapower's JSON format (the output of pandapower.to_json), "
        "as a JSON object or as a string",
    )
    snapshot: Snapshot | None = Field(
        default=None, description="loads, outputs and intensities; absent: the case's own"
    )

    @model_validator(mode="after")
    def _one_network(self) -> NetworkChoice:
        if (self.case is None) == (self.network is None):
            raise ValueError("give exactly one of case or network")
        return self

    def load(self):
        """A fresh pandapower net and its name for the report."""
        if self.case is not None:
            return load_case(self.case), self.case
        text = self.network if isinstance(self.network, str) else json.dumps(self.network)
        return load_network_json(text), "network"


class TraceRequest(NetworkChoice):
    """One snapshot to trace."""


class SeriesRequest(NetworkChoice):
    """A day to trace: the snapshot scaled hour by hour by the profile."""

    profile: Profile


class Refusal(BaseModel):
    """Why a request was refused."""

    field: str | None
    reason: str
    message: str


def _refuse(exc: CarbonInputError) -> HTTPException:
    return HTTPException(
        status_code=422,
        detail=Refusal(field=exc.field, reason=exc.reason.value, message=exc.detail).model_dump(),
    )


_TRACE_EXAMPLES = {
    "ieee33": {
        "summary": "IEEE 33-bus feeder, grid at 0.55 t/MWh",
        "value": {"case": "case33bw", "snapshot": {"ext_grids": {"0": {"t_per_mwh": 0.55}}}},
    },
    "coal": {
        "summary": "case9 with a coal unit (PECC) and a zero-carbon unit",
        "value": {
            "case": "case9",
            "snapshot": {
                "gens": {
                    "0": {"p_mw": 150, "coal": {"a": 0.0001, "b": 0.3, "c": 5.0, "mu": 0.7,
                                                "phi": 0.98, "theta": 0.0, "state": "normal"}},
                    "1": {"p_mw": 80, "t_per_mwh": 0.0},
                },
                "loads": {"0": {"p_mw": 100, "q_mvar": 30}},
            },
        },
    },
}

_SERIES_EXAMPLES = {
    "ieee33-day": {
        "summary": "IEEE 33-bus feeder over a day",
        "value": {
            "case": "case33bw",
            "profile": {"load": [0.6, 0.55, 0.5, 0.5, 0.55, 0.65, 0.8, 0.9, 0.95, 1.0, 1.0, 0.98,
                                 0.95, 0.93, 0.92, 0.95, 1.0, 1.05, 1.1, 1.05, 0.95, 0.85, 0.75,
                                 0.65]},
        },
    },
}

_ERRORS = {422: {"description": "refused input: which field, and what was wrong"}}


@router.post(
    "/trace",
    response_model=CarbonFlowReport,
    summary="Trace the carbon-emission flow of one snapshot",
    description=(
        "Runs an AC power flow (pandapower) on the network with the snapshot applied, then "
        "traces every source's emissions by proportional sharing (upstream tracing, losses as "
        "virtual loads). Returns nodal intensities, load, branch and loss carbon, and totals, "
        "in t CO2/h and in whole g CO2/h."
    ),
    responses=_ERRORS,
)
def trace_endpoint(
    body: Annotated[TraceRequest, Body(openapi_examples=_TRACE_EXAMPLES)],
) -> CarbonFlowReport:
    try:
        net, name = body.load()
        return report_network(net, body.snapshot, name=name)
    except CarbonInputError as exc:
        raise _refuse(exc) from None


@router.post(
    "/series",
    response_model=SeriesReport,
    summary="Trace a day of hourly snapshots",
    description=(
        "Scales the snapshot's loads (and optionally sgens and gens) by 24 hourly factors, "
        "traces each hour and sums each consumer's carbon over the day in grams. An hour whose "
        "power flow fails is reported as failed; the other hours still count."
    ),
    responses=_ERRORS,
)
def series_endpoint(
    body: Annotated[SeriesRequest, Body(openapi_examples=_SERIES_EXAMPLES)],
) -> SeriesReport:
    try:
        net, name = body.load()
        return trace_series(net, body.profile, body.snapshot, name=name)
    except CarbonInputError as exc:
        raise _refuse(exc) from None

