"""The transactions the edge writes to its chain, as declared models.

A block's leaves are canonical JSON objects with a ``type``. Four of them are
wire messages stored as received or as signed (their models are in
``messages``): ``bid`` (the gateway's tagged bytes, re-encoded canonically),
``result`` and ``settlement`` (signed by the edge), ``price`` (signed by the
hub), and ``organiser_key`` (the sealed-bid key announcement, signed by the
edge). The others exist only on the chain and are declared here:

- ``telemetry_digest``: one accepted telemetry message as who, which seq, when
  and the SHA-256 of its bytes. Telemetry is the bulk of the traffic; the chain
  commits to it (anyone holding the message can prove it was received) while
  staying small enough for the edge's flash and the sync link.
- ``sealed_bid``: a sealed bid's commitment (SHA-256 of its blob), written
  before its gate closes in place of the bid, so the chain holds no quote
  anyone could read before closure; the blob follows with the round's result.
- ``meter_reading``: a good reading of a meter wired to the edge itself.
- ``anchor_receipt``: the hub's proof that a main-chain block commits to one
  of our heads (``edge.sync.receipts`` checks it), so the edge chain records
  when each of its blocks became anchored.

``tx_bytes`` is the one encoder of a leaf, so a model and the bytes hashed
into a block cannot disagree.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.protocol.canonical import canonical
from edge.protocol.messages import (
    MESSAGE_TYPES,
    IntervalStart,
    KidHex,
    OrganiserKeyMessage,
    Reading,
)
from edge.protocol.types import Hex32, Hex64, Id, KeyId, Seq, Side, TsMs


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class TelemetryDigest(_Strict):
    type: Literal["telemetry_digest"] = "telemetry_digest"
    gw: Id
    seq: Seq
    ts: TsMs
    sha256: Hex32

    @classmethod
    def of(cls, gw: str, seq: int, ts: int, payload: bytes) -> TelemetryDigest:
        """The digest of one accepted telemetry message's exact bytes."""
        return cls(gw=gw, seq=seq, ts=ts, sha256=hashlib.sha256(payload).hexdigest())

    @staticmethod
    def leaf(gw: str, seq: int, ts: int, payload: bytes) -> bytes:
        """``tx_bytes(TelemetryDigest.of(...))`` written out, for ingest's hot path.

        Only for values admission has checked (``gw`` an id, so nothing to
        escape; ``seq`` and ``ts`` integers in range): the model is not built.
        tests/protocol/test_transactions.py checks the two agree.
        """
        return (b'{"gw":"%s","seq":%d,"sha256":"%s","ts":%d,"type":"telemetry_digest"}'
                % (gw.encode("ascii"), seq, hashlib.sha256(payload).hexdigest().encode("ascii"),
                   ts))


class SealedBidCommitment(_Strict):
    """A sealed bid as the chain records it before its gate closes: who, which seq and round,
    the organiser key it was sealed to and the SHA-256 of its blob, never the blob or a price.

    The blob is published with the round's result, after closure, so anyone can
    check it against this commitment (edge.market.sealed.verify_opening).
    """

    type: Literal["sealed_bid"] = "sealed_bid"
    gw: Id
    seq: Seq
    ts: TsMs
    interval: IntervalStart
    round: Annotated[int, Field(ge=0, le=1000)]
    side: Side
    kid: KidHex
    commitment: Hex32

    @classmethod
    def of(cls, bid: dict[str, Any]) -> SealedBidCommitment:
        """The commitment of an admitted sealed bid (its ``sealed`` blob, hashed)."""
        blob = bytes.fromhex(bid["sealed"])
        return cls(gw=bid["gw"], seq=bid["seq"], ts=bid["ts"], interval=bid["interval"],
                   round=bid.get("round", 0), side=bid["side"], kid=bid["kid"],
                   commitment=hashlib.sha256(blob).hexdigest())


class MeterReading(Reading):
    """A reading of a meter polled by the edge itself (Modbus), as a chain leaf."""

    type: Literal["meter_reading"] = "meter_reading"
    site: Id


class MainHeader(_Strict):
    """A main-chain block header as the hub signs it (``edge.chain.block.BlockHeader``)."""

    version: Annotated[int, Field(ge=0)]
    chain: Annotated[str, Field(max_length=64)]
    height: Annotated[int, Field(ge=0)]
    prev: Hex32
    root: Hex32
    ts: TsMs
    ntx: Annotated[int, Field(ge=0)]
    producer: KeyId
    sig: Hex64


class AnchoredHead(_Strict):
    """The leaf of a main block: one edge head (edge id, height, block hash)."""

    edge: KeyId
    height: Annotated[int, Field(ge=0)]
    hash: Hex32


class AnchorReceipt(_Strict):
    """A main header, the anchored head and its inclusion proof under the header's root."""

    header: MainHeader
    index: Annotated[int, Field(ge=0)]
    tx: AnchoredHead
    proof: Annotated[list[Hex32], Field(max_length=64)]


class AnchorReceiptTx(AnchorReceipt):
    type: Literal["anchor_receipt"] = "anchor_receipt"

    @classmethod
    def of(cls, receipt: AnchorReceipt | dict[str, Any]) -> AnchorReceiptTx:
        body = receipt.model_dump() if isinstance(receipt, BaseModel) else receipt
        return cls.model_validate({**body, "type": "anchor_receipt"})


#: Chain transaction type -> its model (messages and chain-only leaves).
TX_TYPES: dict[str, type[BaseModel]] = {
    **MESSAGE_TYPES,
    "telemetry_digest": TelemetryDigest,
    "sealed_bid": SealedBidCommitment,
    "organiser_key": OrganiserKeyMessage,
    "meter_reading": MeterReading,
    "anchor_receipt": AnchorReceiptTx,
}


def tx_bytes(tx: BaseModel | dict[str, Any]) -> bytes:
    """The canonical bytes of a leaf: a model with every field, or a message as signed."""
    if isinstance(tx, BaseModel):
        return canonical(tx.model_dump(exclude_none=True))
    return canonical(tx)
