"""FastAPI dependencies of the hub: its state, the clock, and who is asking.

Everything a route needs comes through here from `app.state` (set once by
hub.service.app.create_app), so a route module holds no globals and a test
builds an app with its own database, key and clock.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from edge.chain.keys import PrivateKey
from edge.clock import Clock
from edge.protocol.types import KEY_ID_PATTERN
from hub.service import auth
from hub.service.db import Database
from hub.service.errors import AuthError, ForbiddenError
from hub.service.registry import EdgeInfo
from hub.service.settings import Settings

EdgeIdPath = Annotated[str, PathParam(pattern=KEY_ID_PATTERN,
                                      description="the edge's public id (hex Ed25519 key)")]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


def get_hub_key(request: Request) -> PrivateKey:
    return request.app.state.hub_key


def _path_with_query(request: Request) -> str:
    path = request.url.path
    return path + "?" + request.url.query if request.url.query else path


async def authenticate_headers(request: Request) -> None:
    """Step one, before the body is read: the headers name an active edge, in time."""
    settings: Settings = request.app.state.settings
    request.state.claimed = await run_in_threadpool(
        auth.check_headers, request.app.state.db, settings.request_window_s, request.headers,
        request.app.state.clock.wall_ms())


async def authenticate_body(request: Request) -> None:
    """Step two, once the body is in (within its limit): the signature covers it."""
    body = await request.body()
    request.state.edge = auth.check_signature(request.state.claimed, request.method,
                                              _path_with_query(request), body)


async def signed_edge(request: Request, edge_id: EdgeIdPath) -> EdgeInfo:
    """The registered, active edge that signed this request for its own path.

    The hub's route class (hub.service.routing) runs both authentication
    steps around reading the body; a route mounted without it is
    authenticated here, after FastAPI has read the body.
    """
    edge = getattr(request.state, "edge", None)
    if edge is None:
        await authenticate_headers(request)
        await authenticate_body(request)
        edge = request.state.edge
    if edge.edge_id != edge_id:
        raise ForbiddenError("wrong_edge", "an edge may only act on its own path")
    return edge


_bearer = HTTPBearer(auto_error=False, description="operator token (docs/hub.md, Operator token)")


def operator(
    request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Operator endpoints need the configured bearer token; without one they are off."""
    token: str | None = request.app.state.operator_token
    if token is None:
        raise ForbiddenError("operator_api_disabled", "no operator token is configured")
    given = "" if cred is None else cred.credentials
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise AuthError("bad_operator_token", "missing or wrong operator bearer token")


async def edge_or_operator(
    request: Request, edge_id: EdgeIdPath,
    cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Reads of an edge's blocks: the operator's bearer token, or a request signed by that
    edge. Nobody else reads them (sealed bids: docs/market.md, what is public when)."""
    if cred is not None:
        operator(request, cred)
    else:
        await signed_edge(request, edge_id)


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
HubKey = Annotated[PrivateKey, Depends(get_hub_key)]
Signed = Annotated[EdgeInfo, Depends(signed_edge)]
Operator = Annotated[None, Depends(operator)]
EdgeOrOperator = Annotated[None, Depends(edge_or_operator)]
