"""Every message on the wire, as strict pydantic models.

Conventions (docs/protocol.md):
- integers only: energy in Wh, power in W, prices in micro-currency per kWh,
  carbon in g CO2, carbon prices in micro-currency per g CO2 (= $/t), times in
  milliseconds since the Unix epoch (`ts`) or seconds for interval starts;
- optional fields are omitted, never sent as null, so one message has exactly
  one canonical byte string;
- gateway messages carry a per-gateway sequence number `seq` and an
  HMAC-SHA256 `tag`; messages from the edge or the hub carry the producer's
  Ed25519 public key and a signature `sig` instead.

Sequence spaces (after Sparkplug B): telemetry and bids share the gateway's
data sequence; status messages (birth, death/last will) count in their own
birth-death sequence, because a last will registered at connect time is
delivered later than data sent after it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.protocol.fills import MAX_FILLS  # noqa: F401 - one owner, re-exported
from edge.protocol.types import (  # noqa: F401 - MAX_* re-exported for older importers
    MAX_PRICE,
    MAX_QTY_WH,
    MAX_SEQ,
    MAX_TS_MS,
    Hex32,
    Hex64,
    Id,
    Price,
    QtyWh,
    Seq,
    Side,
    TsMs,
    Version1,
)

PROTOCOL_VERSION = 1
Wh = Annotated[int, Field(ge=0, le=(1 << 40))]
SignedWh = Annotated[int, Field(ge=-(1 << 40), le=(1 << 40))]
IntervalStart = Annotated[int, Field(ge=0, le=(1 << 40))]
Counter = Annotated[int, Field(ge=0, le=MAX_SEQ)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Reading(_Strict):
    """One device's values at one moment, with its own time and quality.

    `q` tells a live value from a stale one: "good" (read this cycle),
    "stale" (device silent; last known value, `ts` says when it was read),
    "invalid" (read but outside the device's physical range), "nodata"
    (never read since start).
    """

    dev: Id
    kind: Literal["meter", "pv", "battery"]
    q: Literal["good", "stale", "invalid", "nodata"]
    ts: TsMs
    p_w: Annotated[int, Field(ge=-(1 << 31), le=(1 << 31))] | None = None
    e_imp_wh: Wh | None = None
    e_exp_wh: Wh | None = None
    soc_pm: Annotated[int, Field(ge=0, le=1000)] | None = None


class IntervalEnergy(_Strict):
    """Energy metered at the point of connection over one market interval."""

    interval: IntervalStart
    imp_wh: Wh
    exp_wh: Wh
    gen_wh: Wh = 0
    chg_wh: Wh = 0
    dis_wh: Wh = 0


class _FromGateway(_Strict):
    v: Version1
    site: Id
    gw: Id
    seq: Seq
    ts: TsMs
    tag: Hex32


class Telemetry(_FromGateway):
    """Readings of a poll cycle; `energy` appears once an interval closes.

    `hist` marks data replayed from the store-and-forward buffer.
    """

    type: Literal["telemetry"]
    hist: bool = False
    readings: Annotated[list[Reading], Field(min_length=0, max_length=32)]
    energy: IntervalEnergy | None = None


#: a sealed bid's blob (56 bytes: edge.market.sealed) and an organiser key's short name, in hex
SealedBlob = Annotated[str, Field(strict=True, pattern=r"^[0-9a-f]{112}$")]
KidHex = Annotated[str, Field(strict=True, pattern=r"^[0-9a-f]{16}$")]


class Bid(_FromGateway):
    """A buy bid or a sell offer for one interval (one per gateway and round)."""

    type: Literal["bid"]
    interval: IntervalStart
    side: Side
    qty_wh: QtyWh
    price: Price
    round: Annotated[int, Field(ge=0, le=1000)] = 0


class SealedBid(_FromGateway):
    """A bid whose price and quantity are sealed to the organiser key ``kid``
    (docs/market.md "Sealed bids"); a ``bid`` carrying ``sealed`` is read as this."""

    type: Literal["bid"]
    interval: IntervalStart
    side: Side
    sealed: SealedBlob
    kid: KidHex
    round: Annotated[int, Field(ge=0, le=1000)] = 0


#: the highest carbon price (micro-currency per kg CO2) on the wire: the carbon clearing's bound
#: (hub.carbonmarket.clearing.MAX_PRICE), one million currency per tonne
MAX_CARBON_PRICE = 10**9


class CarbonBid(_FromGateway):
    """The gateway's carbon quote for the validity of one price signal (docs/carbon-market.md).

    What its carbon policy (``carbon_bid`` = limit | advised) decided when the
    signal valid from ``valid_from`` to ``valid_to`` arrived: a buy bid or a
    sell ask, in micro-currency per kg CO2. It carries no quantity: the hub
    sizes every carbon order from verified meter evidence, never from a
    participant's claim. Tagged and sequenced like a bid (the data sequence).
    """

    type: Literal["carbon_bid"]
    side: Side
    price: Annotated[int, Field(ge=0, le=MAX_CARBON_PRICE)]
    valid_from: IntervalStart
    valid_to: IntervalStart

    @model_validator(mode="after")
    def _window(self) -> CarbonBid:
        if not self.valid_from < self.valid_to:
            raise ValueError("carbon_bid needs valid_from < valid_to")
        return self


#: a peg request's transfer and bill names, and its amount bound (hub.carbonmarket.peg.MAX_AMOUNT)
PegText = Annotated[str, Field(min_length=1, max_length=80)]
PegAmount = Annotated[int, Field(ge=1, le=1 << 50)]


class PegSpend(_FromGateway):
    """The owner's request to pay (part of) its electricity bill with a minted carbon payment
    (hub.carbonmarket.owner): the edge admits and chains it, the electricity side of the peg
    checks the tag again, the owner and the request counter (``seq``, the data sequence)."""

    type: Literal["peg_spend"]
    transfer: PegText
    amount_micro: PegAmount
    bill: PegText


class PegBurn(_FromGateway):
    """The owner's request to burn (part of) a minted balance back to the carbon side."""

    type: Literal["peg_burn"]
    transfer: PegText
    amount_micro: PegAmount


class GatewayStatus(_FromGateway):
    """Birth ("online") on connect and death ("offline") as the last will."""

    type: Literal["status"]
    state: Literal["online", "offline"]
    fw: Annotated[str, Field(max_length=32)] = ""
    uptime_s: Annotated[int, Field(ge=0, le=MAX_SEQ)] = 0
    counters: Annotated[dict[str, Counter], Field(max_length=32)] = {}


class _Signed(_Strict):
    v: Version1
    ts: TsMs
    signer: Hex32
    sig: Hex64


class FillOut(_Strict):
    """One fill of a round result as ``edge.protocol.fills.decode`` gives it: the order, what
    it traded, and the quote as cleared (carbon adder applied), its order number and its
    quantity: the published book every participant answers (docs/market.md "Rounds")."""

    order: Annotated[str, Field(max_length=80)]
    gw: Id
    side: Side
    qty_wh: Annotated[int, Field(ge=0, le=MAX_QTY_WH)]
    status: Literal["filled", "partial", "unfilled", "excluded"]
    price: Price
    seq: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    order_wh: Annotated[int, Field(ge=1, le=MAX_QTY_WH)]


class ClearingResult(_Signed):
    """The signed header of one round's result; its fills travel as a binary block
    (``edge.protocol.fills``) that the header commits to by count and SHA-256."""

    type: Literal["result"]
    site: Id
    interval: IntervalStart
    round: Annotated[int, Field(ge=0, le=1000)]
    final: bool
    price: Price | None = None
    volume_wh: Annotated[int, Field(ge=0, le=(1 << 50))]
    regime: Literal["buyers_market", "sellers_market", "balanced", "no_trade"]
    fills_n: Annotated[int, Field(ge=0, le=MAX_FILLS)]
    fills_sha256: Hex32
    sealed: SealedOpening | None = None


class OpenedBid(_Strict):
    """A sealed bid opened after its gate: its blob, the committed hash and what it opened to."""

    gw: Id
    seq: Seq
    round: Annotated[int, Field(ge=0, le=1000)]
    blob: SealedBlob
    commitment: Hex32
    price: Price
    qty_wh: QtyWh


class RefusedSealedBid(_Strict):
    """A sealed bid that did not enter the book at its opening, with the reason code."""

    gw: Id
    seq: Seq
    reason: Literal["does_not_open", "hash_mismatch"]
    commitment: Hex32


class SealedOpening(_Strict):
    """What a round's result publishes about the sealed bids of that round: the organiser's
    private key of the round (so anyone can redo the openings) and every opening."""

    round: Annotated[int, Field(ge=0, le=1000)]
    kid: KidHex
    private: Hex32
    opened: Annotated[list[OpenedBid], Field(max_length=MAX_FILLS)]
    refused: Annotated[list[RefusedSealedBid], Field(max_length=MAX_FILLS)] = []


class OrganiserKeyMessage(_Signed):
    """The organiser's X25519 public key for one interval and round, signed by the edge."""

    type: Literal["organiser_key"]
    site: Id
    interval: IntervalStart
    round: Annotated[int, Field(ge=0, le=1000)]
    pub: Hex32
    kid: KidHex


class Settlement(_Signed):
    """What one participant delivered, paid and emitted in one interval.

    Signs: energy_wh > 0 bought, < 0 sold; amount_micro > 0 paid, < 0 received.
    """

    type: Literal["settlement"]
    site: Id
    interval: IntervalStart
    gw: Id
    energy_wh: SignedWh
    amount_micro: Annotated[int, Field(ge=-(1 << 60), le=(1 << 60))]
    carbon_g: Annotated[int, Field(ge=-(1 << 50), le=(1 << 50))]
    price: Price | None = None


class CarbonBidAdvice(_Strict):
    """The hub's recommended carbon bid range for the signal's electricity price.

    From hub.carbonmarket.correlation (a copula of the two price series):
    the central `level_pm` per mille of the carbon prices expected when
    electricity costs `electricity_price` micro-currency per kWh. Carbon
    prices in micro-currency per kg CO2, integers (low rounded down, high
    up). `v` versions this object on its own: a gateway that does not know
    the version ignores the advice, never the signal.
    """

    v: Version1
    electricity_price: Price
    low: Price
    median: Price
    high: Price
    level_pm: Annotated[int, Field(ge=1, le=999)]

    @model_validator(mode="after")
    def _ordered(self) -> CarbonBidAdvice:
        if not self.low <= self.median <= self.high:
            raise ValueError("carbon_bid needs low <= median <= high")
        return self


class PriceSignal(_Signed):
    """Carbon prices from the central hub (P1), relayed to gateways.

    `adders` maps a participant id to its carbon price adder in micro-currency
    per kWh: added to a seller's offer, subtracted from a buyer's bid.
    `carbon_bid` (optional) is the hub's carbon bid advice; it is signed with
    the rest by the hub and again by the edge that relays it.
    """

    type: Literal["price"]
    site: Id
    valid_from: IntervalStart
    valid_to: IntervalStart
    p_low: Annotated[int, Field(ge=0, le=MAX_PRICE)]  # micro-currency per g CO2
    p_high: Annotated[int, Field(ge=0, le=MAX_PRICE)]
    intensity_g_kwh: Annotated[int, Field(ge=0, le=100_000)]
    adders: Annotated[dict[str, Price], Field(max_length=10_000)] = {}
    carbon_bid: CarbonBidAdvice | None = None


GatewayMessage = Annotated[Telemetry | Bid | CarbonBid | PegSpend | PegBurn | GatewayStatus,
                           Field(discriminator="type")]
SignedMessage = Annotated[
    ClearingResult | Settlement | PriceSignal, Field(discriminator="type")
]
Message = Annotated[
    Telemetry | Bid | CarbonBid | PegSpend | PegBurn | GatewayStatus | ClearingResult
    | Settlement | PriceSignal,
    Field(discriminator="type"),
]
MESSAGE_TYPES = {
    "telemetry": Telemetry,
    "bid": Bid,
    "carbon_bid": CarbonBid,
    "peg_spend": PegSpend,
    "peg_burn": PegBurn,
    "status": GatewayStatus,
    "result": ClearingResult,
    "settlement": Settlement,
    "price": PriceSignal,
}
