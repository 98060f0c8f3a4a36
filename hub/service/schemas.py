"""Request and response models of the hub API (documented in OpenAPI and docs/hub.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from edge.chain.block import BLOCK_VERSION
from edge.protocol.messages import CarbonBidAdvice
from edge.protocol.types import MAX_SEQ, Hex32, Hex64, Id, Price

MAX_INT = MAX_SEQ  # heights, timestamps: exact in every JSON implementation
#: Hard ceilings of the schema; the settings (hub.service.settings) set the limits below them.
MAX_BLOCKS = 256
MAX_TXS_PER_BLOCK = 100_000  # the edge's own ceiling (edge.runtime.config blocks.max_txs)
NonNeg = Annotated[StrictInt, Field(ge=0, le=MAX_INT)]
Interval = Annotated[StrictInt, Field(ge=0, le=1 << 40)]
SiteId = Id

HEX_A = "a" * 64
HEADER_EXAMPLE = {
    "version": 1, "chain": "site-a", "height": 7, "prev": "3f" * 32, "root": "9c" * 32,
    "ts": 1717243200000, "ntx": 2, "producer": HEX_A, "sig": "5e" * 64,
}


class Header(BaseModel):
    """An edge.chain.block.BlockHeader; its canonical bytes are what was signed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [HEADER_EXAMPLE]})

    version: Literal[BLOCK_VERSION] = Field(  # type: ignore[valid-type]
        description="the block format version the hub reads (edge.chain.block.BLOCK_VERSION)")
    chain: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    height: NonNeg
    prev: Hex32
    root: Hex32
    ts: NonNeg
    ntx: NonNeg
    producer: Hex32
    sig: Hex64


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    header: Header
    txs: Annotated[list[dict[str, Any]], Field(max_length=MAX_TXS_PER_BLOCK)] = Field(
        description="transaction objects; each one's canonical bytes is a Merkle leaf")


class BlocksIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"blocks": [{"header": HEADER_EXAMPLE, "txs": [
            {"kind": "settlement", "gw": "gw1", "energy_wh": 1200},
            {"kind": "settlement", "gw": "gw2", "energy_wh": -1200}]}]}]},
    )

    blocks: Annotated[list[BlockIn], Field(
        min_length=1, max_length=MAX_BLOCKS,
        description="at most max_blocks_per_request blocks (default 64) and "
                    "max_txs_per_request transactions in all (default 100,000)")]


class HeadOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"height": 7, "hash": "3f" * 32}]})

    height: int = Field(description="-1 when the hub holds no block of this edge")
    hash: str


class RegisterIn(BaseModel):
    """What an operator gives to register an edge's key over HTTP (as `hub register-edge`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "feeder-7", "site": "site-a"}]})

    name: StrictStr = Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$",
                            description="a unique name for people")
    site: SiteId | None = Field(None, description="the only site this edge may sign for")


class EdgeOut(BaseModel):
    edge_id: str
    name: str
    site: str | None
    status: str = Field(description="active or revoked")
    registered_ms: int
    revoked_ms: int | None


class IngestOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"accepted": 3, "duplicates": 1, "head": {"height": 7, "hash": "3f" * 32}}]})

    accepted: int = Field(description="blocks stored by this request")
    duplicates: int = Field(description="blocks the hub already held (retries)")
    head: HeadOut


class ErrorDetail(BaseModel):
    """The one refusal shape of every hub route (hub.service.errors)."""

    model_config = ConfigDict(extra="allow")

    reason: str = Field(description="machine-readable reason, e.g. bad_signature, equivocation")
    message: str = Field("", description="one sentence for people")
    field: str | None = Field(None, description="the field to blame, when one is")
    limit: str | None = Field(None, description="the API limit exceeded, when one was")
    errors: list[dict[str, Any]] | None = Field(
        None, description="schema errors (loc, msg, type, ctx), the input never echoed")


class ErrorOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"detail": {"reason": "equivocation", "message": "edge signed a different block at "
                    "stored height 7", "height": 7}}]})

    detail: ErrorDetail


class AnchorTx(BaseModel):
    edge: str
    height: int
    hash: str


class Receipt(BaseModel):
    """A main-chain header and the inclusion proof of one edge head under its root."""

    header: Header
    index: int
    tx: AnchorTx
    proof: list[str]


class ReceiptsOut(BaseModel):
    receipts: list[Receipt]


class MainBlockOut(BaseModel):
    hash: str
    header: Header
    entries: list[AnchorTx]


class MainMade(BaseModel):
    created: bool = Field(description="false when no edge head moved since the last main block")
    block: MainBlockOut | None = None


class EdgeBlockOut(BaseModel):
    hash: str
    header: Header
    txs: list[Any]


class AnchorOut(BaseModel):
    link: list[Header] = Field(description="edge headers after the block up to the anchored head")
    receipt: Receipt


class TxProofOut(BaseModel):
    header: Header
    index: int
    tx: Any
    proof: list[str]
    anchor: AnchorOut | None = Field(description="null until a main block anchors the block")


class AlarmOut(BaseModel):
    id: int
    ts_ms: int
    kind: str = Field(description="equivocation | fork")
    edge_id: str
    height: int
    stored_hash: str
    offered_hash: str
    evidence: dict[str, Any] = Field(description="the offered signed header")


class AlarmsOut(BaseModel):
    alarms: list[AlarmOut]


class PricesOut(BaseModel):
    signals: list[dict[str, Any]] = Field(
        description="edge.protocol.messages.PriceSignal objects signed by the hub")


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"site": "site-a", "valid_from": 1717243200, "valid_to": 1717246800, "p_low": 20,
         "p_high": 40, "intensity_g_kwh": 420, "adders": {"coal-A": 31250}}]})

    site: SiteId
    valid_from: Interval
    valid_to: Interval
    p_low: Price = Field(description="micro-currency per g CO2 (= $/t)")
    p_high: Price
    intensity_g_kwh: Annotated[StrictInt, Field(ge=0, le=100_000)]
    adders: dict[str, Price] = Field(default_factory=dict, max_length=10_000,
                                     description="participant -> micro-currency per kWh")
    carbon_bid: CarbonBidAdvice | None = Field(
        None, description="carbon bid advice (hub.allocation.signal.carbon_bid_field)")


class HubOut(BaseModel):
    hub_id: str = Field(description="the hub's Ed25519 public id: pin it in every edge")
    main_height: int
    database: str


class HealthOut(BaseModel):
    status: str
