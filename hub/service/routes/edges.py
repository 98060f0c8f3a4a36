"""/v1/edges/{id}/...: what an edge pushes (signed), what it reads back, and its registration
(operator)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from hub.service import ingest, receipts, registry
from hub.service.deps import (
    ClockDep,
    DbDep,
    EdgeIdPath,
    EdgeOrOperator,
    Operator,
    SettingsDep,
    Signed,
)
from hub.service.errors import TooLarge
from hub.service.metrics import ACCEPTED, DUPLICATES
from hub.service.routing import SIGNED_REFUSALS, SettingsRoute
from hub.service.schemas import (
    MAX_INT,
    BlocksIn,
    EdgeBlockOut,
    EdgeOut,
    ErrorOut,
    HeadOut,
    IngestOut,
    ReceiptsOut,
    RegisterIn,
    TxProofOut,
)

router = APIRouter(prefix="/v1/edges/{edge_id}", tags=["edges"], route_class=SettingsRoute)
Height = Annotated[int, PathParam(ge=0, le=MAX_INT)]


@router.post(
    "/registration", response_model=EdgeOut,
    responses={400: {"model": ErrorOut, "description": "key or name already registered "
                                                   "(reason exists), or a bad key"},
               401: {"model": ErrorOut, "description": "missing or wrong operator token"},
               403: {"model": ErrorOut, "description": "operator API disabled"}},
    summary="Register the edge's key (operator)",
    description="What `carbon-edge hub register-edge` does on the hub's own machine, for an "
                "operator who holds the token but not the database (e.g. the simulator "
                "pointed at a real hub). The path's id is the edge's public key.")
def post_registration(edge_id: EdgeIdPath, body: RegisterIn, _op: Operator, db: DbDep,
                      clock: ClockDep) -> dict[str, Any]:
    return registry.register_edge(db, body.name, edge_id, body.site,
                                  now_ms=clock.wall_ms()).as_dict()


@router.get("/head", response_model=HeadOut, summary="The edge's acknowledged head",
            description="The highest block the hub stored for this edge (height -1 when none). "
                        "Signed request by the edge itself.")
def get_head(edge_id: EdgeIdPath, _edge: Signed, db: DbDep) -> dict[str, Any]:
    return ingest.head_of(db, edge_id).as_dict()


@router.post(
    "/blocks", response_model=IngestOut,
    responses={400: {"model": ErrorOut, "description": "bad block or gap; or not strict JSON"},
               409: {"model": ErrorOut, "description": "equivocation or fork (alarm recorded)"},
               413: {"model": ErrorOut, "description": "body over max_ingest_body_bytes, or "
                                                      "more blocks/txs than the settings allow"}},
    openapi_extra={"x-body-limit": "max_ingest_body_bytes"},
    summary="Push a batch of edge blocks",
    description="Blocks in height order, starting at any height <= head+1. Each new block is "
                "verified with edge.chain.verify.check_block (signature, producer, Merkle "
                "root, link, time order). Blocks the hub holds are counted as duplicates, so "
                "retries are safe. A different block at a stored height answers 409 and "
                "records an alarm; blocks before a refused one are kept. Limits: "
                "max_ingest_body_bytes, max_blocks_per_request, max_txs_per_request "
                "(docs/hub.md).")
def post_blocks(edge_id: EdgeIdPath, body: BlocksIn, _edge: Signed, db: DbDep,
                settings: SettingsDep, clock: ClockDep) -> dict[str, Any]:
    if len(body.blocks) > settings.max_blocks_per_request:
        raise TooLarge("too_many_blocks", f"{len(body.blocks)} blocks; at most "
                       f"{settings.max_blocks_per_request} per request "
                       "(limit max_blocks_per_request)", field="blocks",
                       limit="max_blocks_per_request")
    ntx = sum(len(b.txs) for b in body.blocks)
    if ntx > settings.max_txs_per_request:
        raise TooLarge("too_many_txs", f"{ntx} transactions; at most "
                       f"{settings.max_txs_per_request} per request (limit max_txs_per_request)",
                       field="blocks", limit="max_txs_per_request")
    raw = [b.model_dump() for b in body.blocks]
    res = ingest.ingest_batch(db, edge_id, raw, now_ms=clock.wall_ms())
    ACCEPTED.inc(res.accepted)
    DUPLICATES.inc(res.duplicates)
    return {"accepted": res.accepted, "duplicates": res.duplicates, "head": res.head.as_dict()}


@router.get("/receipts", response_model=ReceiptsOut, summary="Anchor receipts for the edge",
            description="Receipts from main blocks above `after`, oldest first (at most 100). "
                        "Check one offline: carbon-edge hub check-receipt --file r.json --hub ID.")
def get_receipts(edge_id: EdgeIdPath, _edge: Signed, db: DbDep,
                 after: Annotated[int, Query(ge=-1, le=MAX_INT)] = -1) -> dict[str, Any]:
    return {"receipts": receipts.receipts_for(db, edge_id, after)}


@router.get("/blocks/{height}", response_model=EdgeBlockOut,
            responses={404: {"model": ErrorOut, "description": "no such block"},
                       **SIGNED_REFUSALS},
            summary="One stored edge block",
            description="The header and transactions as the edge signed them. A request "
                        "signed by that edge, or the operator's bearer token.")
def get_edge_block(edge_id: EdgeIdPath, height: Height, db: DbDep,
                   _reader: EdgeOrOperator) -> dict[str, Any]:
    return receipts.edge_block(db, edge_id, height)


@router.get("/blocks/{height}/txs/{idx}/proof", response_model=TxProofOut,
            responses={404: {"model": ErrorOut, "description": "no such block or transaction"},
                       **SIGNED_REFUSALS},
            summary="A transaction with its proof up to an anchor",
            description="Inclusion proof to the edge header, the edge headers up to the first "
                        "anchored head, and the receipt of that head in a main block. A "
                        "request signed by that edge, or the operator's bearer token.")
def get_tx_proof(edge_id: EdgeIdPath, height: Height,
                 idx: Annotated[int, PathParam(ge=0, le=1_000_000)], db: DbDep,
                 _reader: EdgeOrOperator) -> dict[str, Any]:
    return receipts.tx_proof(db, edge_id, height, idx)
