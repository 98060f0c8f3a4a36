"""HTTP endpoints of the carbon tracer: an APIRouter the hub's service includes.

POST /carbon/trace traces one snapshot, POST /carbon/series a day of hourly
snapshots. Both take the network as a built-in case name or as pandapower
JSON. The handlers are plain ``def`` functions so FastAPI runs them in its
thread pool: a power flow of a large case takes a while and must not stall
the event loop. Refused input answers 422 with the field and the reason, and
is counted (``carbon_input_rejected_total``), including bodies that fail
FastAPI's own validation. Requests beyond the limits of hub.carbon.limits
(network size, served cases, body size) answer 422 (413 for the body) with
the field and the limit's name, counted under reason ``over_limit``.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Annotated, Any

import pandapower as pp
from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from hub.carbon.analysis import report_network
from hub.carbon.errors import REJECTED, CarbonInputError, Reason, count
from hub.carbon.limits import BRANCH_TABLES, CASE_BUSES, LIMITS, OverLimit, foreign_module
from hub.carbon.networks import load_case, load_network_json
from hub.carbon.report import CarbonFlowReport
from hub.carbon.series import Profile, SeriesReport, trace_series
from hub.carbon.snapshot import Snapshot
from hub.service.errors import HubError
from hub.service.routing import hub_route
from hub.service.schemas import ErrorOut


def _count(refusal: HubError) -> None:
    """Refusals the hub's route class makes here (body, JSON, schema) in the tracer's counter."""
    REJECTED.labels(reason="over_limit" if refusal.status == 413
                    else Reason.BAD_REQUEST.value).inc()


router = APIRouter(prefix="/carbon", tags=["carbon"],
                   route_class=hub_route(LIMITS.max_body_bytes, _count))


#: Case names, listed in OpenAPI as enums of the served cases. The model still takes any
#: string so that an unknown name gets the tracer's own refusal (reason unknown_case).
TraceCase = Annotated[str, WithJsonSchema({"type": "string", "enum": list(LIMITS.trace_cases())})]
SeriesCase = Annotated[
    str, WithJsonSchema({"type": "string", "enum": list(LIMITS.series_cases())})]


@lru_cache(maxsize=8)
def _pristine_case(name: str) -> pp.pandapowerNet:
    return load_case(name)


def _case(name: str, limit: int, limit_name: str) -> pp.pandapowerNet:
    """A fresh copy of a served built-in case (parsing one takes 0.3 s, copying it 10 ms)."""
    buses = CASE_BUSES.get(name)
    if buses is None:
        load_case(name)  # refuses names pandapower does not know, with its list
        raise CarbonInputError(
            Reason.UNKNOWN_CASE, f"{name!r} is not among the cases this API serves: "
            f"{', '.join(sorted(CASE_BUSES))}", "case")
    if buses > limit:
        raise OverLimit("case", limit_name, f"{name} has {buses} buses; at most {limit}")
    return copy.deepcopy(_pristine_case(name))


def _user_network(network: dict[str, Any] | str, max_buses: int,
                  limit_name: str) -> pp.pandapowerNet:
    """A user network in pandapower JSON, refused before loading if it names other modules."""
    doc: Any = network
    if isinstance(network, str):
        try:
            doc = json.loads(network)
        except ValueError as exc:
            raise CarbonInputError(Reason.BAD_NETWORK, f"not JSON ({exc})", "network") from None
    bad_module = foreign_module(doc)
    if bad_module is not None:
        raise CarbonInputError(
            Reason.BAD_NETWORK, f"names module {bad_module!r}; a pandapower network names "
            f"only {', '.join(LIMITS.allowed_modules)}", "network")
    text = network if isinstance(network, str) else json.dumps(network)
    net = load_network_json(text)
    buses = len(net.bus)
    if buses > max_buses:
        raise OverLimit("network", limit_name, f"{buses} buses; at most {max_buses}")
    branches = sum(len(net[t]) for t in BRANCH_TABLES if t in net)
    if branches > LIMITS.max_branches:
        raise OverLimit("network", "max_branches",
                        f"{branches} branches; at most {LIMITS.max_branches}")
    rows = sum(len(v) for k, v in net.items()
               if not k.startswith("res_") and hasattr(v, "columns"))
    if rows > LIMITS.max_elements:
        raise OverLimit("network", "max_elements",
                        f"{rows} element rows; at most {LIMITS.max_elements}")
    return net


class NetworkChoice(BaseModel):
    """Which network: a pandapower built-in case, or a network as pandapower JSON."""

    model_config = ConfigDict(extra="forbid")

    case: TraceCase | None = Field(
        default=None, description="pandapower built-in case, e.g. case33bw, case118; those "
        f"with at most {LIMITS.max_buses} buses (max_buses)",
        examples=["case33bw"],
    )
    network: dict[str, Any] | str | None = Field(
        default=None,
        description="a network in pandapower's JSON format (the output of pandapower.to_json), "
        f"as a JSON object or as a string; at most {LIMITS.max_buses} buses (max_buses), "
        f"{LIMITS.max_branches} branches (max_branches), {LIMITS.max_elements} element rows "
        f"(max_elements), {LIMITS.max_body_bytes} bytes of body (max_body_bytes)",
    )
    snapshot: Snapshot | None = Field(
        default=None, description="loads, outputs and intensities; absent: the case's own"
    )

    @model_validator(mode="after")
    def _one_network(self) -> NetworkChoice:
        if (self.case is None) == (self.network is None):
            raise ValueError("give exactly one of case or network")
        return self

    def load(self, max_buses: int = LIMITS.max_buses, limit_name: str = "max_buses"):
        """A fresh pandapower net within the limits, and its name for the report."""
        if self.case is not None:
            return _case(self.case, max_buses, limit_name), self.case
        assert self.network is not None
        return _user_network(self.network, max_buses, limit_name), "network"


class TraceRequest(NetworkChoice):
    """One snapshot to trace."""

    dc: bool = Field(default=False, description="DC power flow (lossless) instead of AC")


class SeriesRequest(NetworkChoice):
    """A day to trace: the snapshot scaled hour by hour by the profile."""

    case: SeriesCase | None = Field(
        default=None, description="pandapower built-in case, e.g. case33bw; those with at "
        f"most {LIMITS.max_series_buses} buses (max_series_buses)",
        examples=["case33bw"],
    )
    profile: Profile = Field(description=f"{LIMITS.series_hours} hourly factors per list "
                                         "(series_hours)")


def _refuse(exc: CarbonInputError | OverLimit) -> HubError:
    """The hub's one refusal shape: reason, message, field and the limit if one was passed.

    Answering the refusal is where it is counted (once).
    """
    count(exc)
    if isinstance(exc, OverLimit):
        return HubError(exc.reason, exc.detail, status=exc.status, field=exc.field,
                        limit=exc.limit)
    return HubError(exc.reason.value, exc.detail, status=422, field=exc.field)


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

def _too_much_carbon() -> CarbonInputError:
    """The report counts whole g CO2/h in 64-bit integers; absurd intensities overflow them."""
    return CarbonInputError(
        Reason.BAD_SNAPSHOT, "the emissions are too large to count in whole g CO2/h (64-bit); "
        "are the intensities in t CO2/MWh?", "snapshot")


_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "body larger than max_body_bytes (docs/hub.md)"},
    422: {"model": ErrorOut, "description": "refused input, or beyond an API limit: which field, "
                                            "what was wrong, and the limit if one was exceeded"},
}
_LIMITS_TEXT = (
    "Limits (docs/hub.md, \"API limits\"): built-in cases are the listed ones; a user "
    f"network has at most {LIMITS.max_buses} buses, {LIMITS.max_branches} branches and "
    f"{LIMITS.max_elements} element rows; bodies at most {LIMITS.max_body_bytes} bytes (413)."
)


@router.post(
    "/trace",
    response_model=CarbonFlowReport,
    summary="Trace the carbon-emission flow of one snapshot",
    description=(
        "Runs an AC power flow (pandapower) on the network with the snapshot applied, then "
        "traces every source's emissions by proportional sharing (upstream tracing, losses as "
        "virtual loads). Returns nodal intensities, load, branch and loss carbon, and totals, "
        "in t CO2/h and in whole g CO2/h. " + _LIMITS_TEXT
    ),
    responses=_ERRORS,
)
def trace_endpoint(
    body: Annotated[TraceRequest, Body(openapi_examples=_TRACE_EXAMPLES)],
) -> CarbonFlowReport:
    try:
        net, name = body.load()
        return report_network(net, body.snapshot, name=name, dc=body.dc)
    except (CarbonInputError, OverLimit) as exc:
        raise _refuse(exc) from None
    except OverflowError:
        raise _refuse(_too_much_carbon()) from None


@router.post(
    "/series",
    response_model=SeriesReport,
    summary="Trace a day of hourly snapshots",
    description=(
        f"Scales the snapshot's loads (and optionally sgens and gens) by {LIMITS.series_hours} "
        "hourly factors, traces each hour and sums each consumer's carbon over the day in "
        "grams. An hour whose power flow fails is reported as failed; the other hours still "
        f"count. A series network has at most {LIMITS.max_series_buses} buses "
        "(max_series_buses). " + _LIMITS_TEXT
    ),
    responses=_ERRORS,
)
def series_endpoint(
    body: Annotated[SeriesRequest, Body(openapi_examples=_SERIES_EXAMPLES)],
) -> SeriesReport:
    try:
        net, name = body.load(LIMITS.max_series_buses, "max_series_buses")
        # As a dict, so that trace_series checks it in full: it takes a Profile instance
        # as already checked and would let negative factors through.
        return trace_series(net, body.profile.model_dump(), body.snapshot, name=name)
    except (CarbonInputError, OverLimit) as exc:
        raise _refuse(exc) from None
    except OverflowError:
        raise _refuse(_too_much_carbon()) from None
