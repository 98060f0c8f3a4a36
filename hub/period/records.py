"""The main-chain transactions of a market period and of a scoring epoch.

Every record is a pydantic model with integers only (Wh, micro-currency per
kWh, mg or g CO2, parts per million), so its canonical JSON is what is hashed
into the main block's Merkle tree and an edge can re-validate a transaction
it was given with the same model before checking its inclusion proof
(``hub.period.proofs``). Lists are sorted by id so the same inputs always
give the same bytes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from edge.protocol.types import Hex32, Id, Price, Side

Int = StrictInt
NonNeg = Annotated[StrictInt, Field(ge=0)]
Wh = Annotated[StrictInt, Field(ge=0, lt=2**31)]
Period = Annotated[StrictInt, Field(ge=0, le=(1 << 53) - 1, description="period start, s")]
#: An entity of the game: "<site>/<gateway>".
EntityId = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}/[A-Za-z0-9_.-]{1,32}$")]
Region = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def tx(self) -> dict[str, Any]:
        """The transaction as it goes into the block (canonical JSON of this dict)."""
        return self.model_dump(mode="json")


class ReportEntity(_Record):
    """One opened quotation of a region: the gateway's last bid of the period."""

    id: EntityId
    site: Id
    gw: Id
    side: Side
    qmin_wh: Wh = 0
    qmax_wh: Wh
    price: Price = Field(description="offer or bid, micro-currency per kWh")
    intensity_g_kwh: Annotated[StrictInt, Field(ge=0, le=10_000)] = Field(
        description="seller's emission intensity from the hub config (0 for buyers)")
    edge: Hex32 = Field(description="the edge whose chain holds the bid")
    height: NonNeg = Field(description="the edge block holding the bid")


class RegionalReport(_Record):
    """A region's quotations for one period (kept by the hub; its digest goes on the chain)."""

    type: Literal["region_report"] = "region_report"
    period: Period
    region: Region
    entities: list[ReportEntity]


class ReportDigest(_Record):
    """Main-chain transaction: SHA-256 of a regional report's canonical JSON."""

    type: Literal["region_report_digest"] = "region_report_digest"
    period: Period
    region: Region
    entities: NonNeg
    sha256: Hex32


class AllocationRow(_Record):
    id: EntityId
    region: Region
    side: Side
    allocation_mg: Int = Field(description="Owen value, mg CO2, rounded half up")


class Allocation(_Record):
    """Main-chain transaction: the Owen allocation of the carbon-blind emissions."""

    type: Literal["allocation"] = "allocation"
    period: Period
    method: Literal["exact", "sampled"]
    seed: Int
    rounds: NonNeg
    total_mg: NonNeg = Field(description="v(N): emissions of the carbon-blind clearing, mg")
    rows: list[AllocationRow]


class AdderRow(_Record):
    id: EntityId
    q_wh: NonNeg = Field(description="quantity the cost is spread over (blind clearing)")
    carbon_cost_micro: Int = Field(description="ladder cost, micro-currency, rounded half up")
    adder: Price = Field(description="micro-currency per kWh")
    new_price: Price


class Adders(_Record):
    """Main-chain transaction: the ladder's tiers, costs and price adders."""

    type: Literal["adders"] = "adders"
    period: Period
    p_low: Price = Field(description="$/t = micro-currency per g CO2")
    p_high: Price
    rows: list[AdderRow]


class ClearingRow(_Record):
    id: EntityId
    blind_wh: NonNeg
    revised_wh: NonNeg


class Clearing(_Record):
    """Main-chain transaction: the carbon-blind and the revised clearing of the period."""

    type: Literal["clearing"] = "clearing"
    period: Period
    blind_volume_wh: NonNeg
    blind_emissions_mg: NonNeg
    revised_volume_wh: NonNeg
    revised_emissions_mg: NonNeg
    relaxed: bool
    rows: list[ClearingRow]


class NodalIntensities(_Record):
    """Main-chain transaction: carbon intensity of the mapped buses (carbon-flow trace)."""

    type: Literal["nodal_intensity"] = "nodal_intensity"
    period: Period
    network: Annotated[StrictStr, Field(max_length=200)]
    generator_emissions_g_per_h: NonNeg
    buses: dict[str, NonNeg] = Field(description="bus -> g CO2 per kWh")


class ScoredNode(_Record):
    """One consensus node's scoring inputs over the epoch (integers)."""

    node: Hex32
    accuracy_ppm: Annotated[StrictInt, Field(ge=0, le=1_000_000)]
    credit_ppm: Annotated[StrictInt, Field(ge=0, le=1_000_000)]
    blocks: NonNeg
    transactions: NonNeg
    p_ppb: NonNeg = Field(description="the score P, in parts per billion (information)")


class SupervisorRecord(_Record):
    """Main-chain transaction: a scoring epoch's inputs and the chosen supervisors."""

    type: Literal["supervisors"] = "supervisors"
    epoch: Period
    epoch_s: Annotated[StrictInt, Field(gt=0)]
    s: Annotated[StrictInt, Field(ge=1)]
    gamma_milli: Annotated[StrictInt, Field(gt=0)]
    nodes: list[ScoredNode]
    supervisors: list[Hex32]


RECORDS: dict[str, type[_Record]] = {
    m.model_fields["type"].default: m
    for m in (ReportDigest, Allocation, Adders, Clearing, NodalIntensities, SupervisorRecord)
}


def parse_record(tx: Any) -> _Record:
    """A main-chain transaction as its model; ValueError for anything else."""
    if not isinstance(tx, dict) or tx.get("type") not in RECORDS:
        raise ValueError("not a period or epoch record")
    return RECORDS[tx["type"]].model_validate(tx)
