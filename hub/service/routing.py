"""The hub's route class: one way to read, limit, authenticate, parse and refuse a request.

Every router of the hub (/v1, /carbon, /allocation) uses a `HubRoute`, which
for each request, in this order:

1. for a signed route (one that depends on `deps.signed_edge`), checks the
   headers against the registry and the clock, before any of the body is read;
2. reads the body chunk by chunk and answers 413 as soon as it passes the
   route's limit (a lying or absent Content-Length cannot make the hub
   buffer more);
3. for a signed route, checks the signature over that body;
4. parses a JSON body strictly: duplicate keys, NaN/Infinity, invalid UTF-8
   and absurd nesting are a 400, never a 500 and never "last key wins";
5. runs FastAPI's handler, and turns whatever it refuses (our HubError,
   FastAPI's schema errors, HTTP errors) into the one refusal body of
   hub.service.errors, counted once in `hub_refused_total{reason}`.

A router may pass `count` to also feed its own counter for the refusals made
here (body limit, JSON, schema); refusals its handlers raise are its own to
count. Starlette's body-size middleware is not used: its 413 names no limit
and no counter sees it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.service import deps
from hub.service.errors import HubError, TooLarge
from hub.service.metrics import ALARMS, REFUSED
from hub.service.schemas import ErrorOut

ALARM_KINDS = ("equivocation", "fork")  # hub.service.alarms.KINDS
_HTTP_REASONS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type"}
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body is not strict JSON (syntax, duplicate "
                                            "keys, NaN/Infinity, encoding, nesting)"},
    413: {"model": ErrorOut, "description": "body larger than the route's limit (docs/hub.md)"},
    422: {"model": ErrorOut, "description": "schema error: `field`, `message` and `errors`"},
}
SIGNED_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "unknown edge, bad signature or stale request"},
    403: {"model": ErrorOut, "description": "revoked edge or another edge's path"},
}
MAX_ERRORS = 20


class BadJson(HubError):
    status = 400


def refusal_response(exc: HubError) -> JSONResponse:
    """Count a refusal once and answer it in the hub's one shape."""
    REFUSED.labels(reason=exc.reason).inc()
    if exc.reason in ALARM_KINDS:
        ALARMS.labels(kind=exc.reason).inc()
    return JSONResponse({"detail": exc.detail()}, status_code=exc.status,
                        headers=getattr(exc, "headers", None))


def _plain(value: Any) -> Any:
    """A context value that JSON can carry (no NaN, no exception objects)."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def from_validation(exc: RequestValidationError) -> HubError:
    """FastAPI's schema errors as a refusal: the first one named, the input never echoed."""
    errors = []
    for err in exc.errors()[:MAX_ERRORS]:
        item: dict[str, Any] = {"loc": [p if isinstance(p, int) else str(p) for p in err["loc"]],
                                "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        if isinstance(err.get("ctx"), dict):
            item["ctx"] = {str(k): _plain(v) for k, v in err["ctx"].items()}
        errors.append(item)
    if not errors:
        return HubError("invalid_request", "the request does not match the schema", status=422)
    loc = errors[0]["loc"]
    where = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    field = ".".join(str(p) for p in where) or str(loc[0] if loc else "body")
    return HubError("invalid_request", f"{field}: {errors[0]['msg']}", status=422, field=field,
                    errors=errors)


def from_http(exc: StarletteHTTPException) -> HubError:
    if isinstance(exc.detail, dict) and "reason" in exc.detail:
        d = dict(exc.detail)
        out = HubError(str(d.pop("reason")), str(d.pop("message", "")), status=exc.status_code,
                       **d)
    else:
        reason = _HTTP_REASONS.get(exc.status_code, f"http_{exc.status_code}")
        out = HubError(reason, str(exc.detail), status=exc.status_code)
    out.headers = exc.headers
    return out


def strict_json(body: bytes) -> Any:
    """JSON as RFC 8259 has it: no NaN/Infinity, no duplicate keys (BadJson names the problem)."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise BadJson("bad_json", f"duplicate key {k[:64]!r} in a JSON object",
                              field="body")
            out[k] = v
        return out

    def constant(name: str) -> Any:
        raise BadJson("bad_json", f"{name} is not a JSON number", field="body")

    def finite(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):  # 1e400 parses to inf
            raise BadJson("bad_json", f"number {text[:32]} is out of range", field="body")
        return value

    try:
        return json.loads(body, object_pairs_hook=pairs, parse_constant=constant,
                          parse_float=finite)
    except json.JSONDecodeError as exc:
        raise BadJson("bad_json", f"not JSON: {exc.msg} at char {exc.pos}", field="body") from None
    except UnicodeDecodeError:
        raise BadJson("bad_json", "not JSON: the body is not UTF-8", field="body") from None
    except RecursionError:
        raise BadJson("bad_json", "not JSON the hub reads: nested too deeply",
                      field="body") from None


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and
                                          kind.endswith("+json"))


async def read_body_within(request: Request, limit: int) -> int | None:
    """Read the body into `request` if it has at most `limit` bytes; else its size so far.

    Returns None when the body was read (FastAPI then finds it cached on the
    request), or the byte count that broke the limit: the declared
    Content-Length when it already says too much, otherwise what had arrived
    when the limit was passed.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return int(declared)
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return size
        chunks.append(chunk)
    request._body = b"".join(chunks)  # what Request.body() caches; FastAPI reads it from there
    return None


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


class HubRoute(APIRoute):
    """See the module docstring. Subclass per router with `hub_route`."""

    max_body_bytes: int = 1 << 20
    count: Callable[[HubError], None] | None = None

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.signed = _depends_on(self.dependant, deps.signed_edge)
        extra = {**REFUSALS, **(SIGNED_REFUSALS if self.signed else {})}
        self.responses = {**extra, **self.responses}

    def body_limit(self, request: Request) -> tuple[int, str]:
        """The most bytes this route reads, and the limit's documented name."""
        return self.max_body_bytes, "max_body_bytes"

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def refusing(request: Request) -> Response:
            ours = True
            try:
                if self.signed:
                    await deps.authenticate_headers(request)
                limit, name = self.body_limit(request)
                size = await read_body_within(request, limit)
                if size is not None:
                    raise TooLarge("body_too_large", f"body: {size} bytes; at most {limit} "
                                   f"(limit {name})", field="body", limit=name)
                if self.signed:
                    await deps.authenticate_body(request)
                body = await request.body()
                if body and _is_json(request):
                    request._json = strict_json(body)  # what Request.json() caches
                ours = False
                return await handler(request)
            except HubError as exc:
                refusal = exc
            except RequestValidationError as exc:
                refusal, ours = from_validation(exc), True
            except StarletteHTTPException as exc:
                refusal, ours = from_http(exc), True
            if ours and self.count is not None:
                self.count(refusal)
            return refusal_response(refusal)

        return refusing


class SettingsRoute(HubRoute):
    """A /v1 route: its body limit is a hub setting, named by `openapi_extra["x-body-limit"]`."""

    def body_limit(self, request: Request) -> tuple[int, str]:
        name = (self.openapi_extra or {}).get("x-body-limit", "max_body_bytes")
        return int(getattr(request.app.state.settings, name)), name


def hub_route(max_body_bytes: int, count: Callable[[HubError], None] | None = None,
              base: type[HubRoute] = HubRoute) -> type[HubRoute]:
    """A HubRoute class for one router: its body limit and its own counter of refusals."""
    attrs: dict[str, Any] = {"max_body_bytes": max_body_bytes}
    if count is not None:
        attrs["count"] = staticmethod(count)
    return type("HubRoute", (base,), attrs)
