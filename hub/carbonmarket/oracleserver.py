"""An oracle as its own process: signed header answers over HTTP (FastAPI under uvicorn).

Deployed, each oracle is a separate service with its own key that reads the
chains it vouches for from their stores; only its signed answers travel
(hub.carbonmarket.oracle: the request is signed by the asking side's
producer, the answer by the oracle, the asker tallies the > 51 % vote). This
module is that service:

    POST /v1/answer   body: a header_request -> 200 the signed header_answer,
                      400 {"error": "bad_request", "detail"} for a request it
                      refuses (unknown requester, bad signature, unknown chain,
                      no height, not JSON, more than MAX_BODY bytes)
    GET  /v1/status   {"oracle": id, "chains": [...], "answered": n, "refused": {...}}
    GET  /healthz     "ok"

The chains are read from their SQLite stores, read-only, per request, so the
oracle sees what the producer has committed and never writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from edge.chain.keys import PrivateKey
from edge.chain.store import ChainStore
from hub.service.routing import BadJson, read_body_within, strict_json

from .errors import Reason, Refused
from .oracle import Oracle

MAX_BODY = 16_384  # a header request is a few hundred bytes


def store_reader(path: str | Path) -> Callable[[int], str | None]:
    """The hash of the block at a height in the chain store at ``path`` (None: no block)."""
    def read(height: int) -> str | None:
        if not Path(path).exists():
            return None
        with ChainStore(path, readonly=True) as store:
            stored = store.header_bytes(height)
        return None if stored is None else stored[0]
    return read


def make_app(key: PrivateKey, requesters: Mapping[str, str],
             chains: Mapping[str, str | Path]) -> FastAPI:
    """The oracle's API for ``key``, answering ``requesters`` about the stores in ``chains``."""
    oracle = Oracle(key, requesters, {cid: store_reader(p) for cid, p in chains.items()})
    stats: dict[str, Any] = {"answered": 0, "refused": Counter()}
    app = FastAPI(title="carbon-market oracle", docs_url=None, redoc_url=None)

    def refuse(detail: str) -> JSONResponse:
        stats["refused"][Reason.BAD_REQUEST.value] += 1
        return JSONResponse({"error": Reason.BAD_REQUEST.value, "detail": detail}, 400)

    @app.post("/v1/answer")
    async def answer(request: Request) -> JSONResponse:
        if await read_body_within(request, MAX_BODY) is not None:  # stops reading past it
            return refuse(f"a request is at most {MAX_BODY} bytes")
        try:
            doc = strict_json(await request.body())
        except BadJson as exc:
            return refuse(f"the request is {exc.message}")
        if not isinstance(doc, dict):
            return refuse("the request is not a JSON object")
        try:
            signed = oracle.answer(doc)
        except Refused as exc:
            return refuse(str(exc).split(": ", 1)[-1])
        stats["answered"] += 1
        return JSONResponse(signed)

    @app.get("/v1/status")
    def status() -> dict[str, Any]:
        return {"oracle": oracle.id, "chains": sorted(chains), "answered": stats["answered"],
                "refused": dict(stats["refused"])}

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    return app


def serve(key: PrivateKey, requesters: Mapping[str, str], chains: Mapping[str, str | Path],
          host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(make_app(key, requesters, chains), host=host, port=port, log_level="warning")
