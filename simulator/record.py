"""What a simulated day leaves behind, as plain rows: the report's single input.

The orchestrator (simulator/day.py) fills a `RunRecord` from the chains, the
inboxes and the hub after the day; the report, the CSV files and the
invariants all read this one structure, so what a tester sees and what the
invariants check are the same numbers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class IntervalRow:
    """One cleared interval of one substation's market (its final round)."""

    substation: str
    interval_ms: int
    rounds: int
    price: int | None          # micro-currency per kWh
    volume_wh: int
    regime: str                # buyers' or sellers' market, or none
    adder_max: int = 0         # largest carbon adder applied in the round (micro/kWh)


@dataclass(frozen=True)
class GatewayRow:
    """One gateway's interval: metered energy, what it traded and was paid, its battery."""

    substation: str
    gateway: str
    interval_ms: int
    net_wh: int                # metered: + imported from the point of connection
    traded_wh: int             # settled on the chain: + bought, - sold
    money_micro: int           # settled: + received, - paid
    battery_wh: int            # + charged, - discharged
    soc_pct: float | None = None
    limit: int | None = None   # the order's limit price (micro/kWh), when it traded
    side: str | None = None


@dataclass(frozen=True)
class CarbonRow:
    """Carbon flow traced on the feeder for one interval."""

    interval_ms: int
    intensity_g_kwh: dict[int, float]   # bus -> nodal intensity
    generation_g: float                 # total emissions of the generators
    load_g: float
    loss_g: float


@dataclass(frozen=True)
class EmissionsRow:
    """One substation's interval cleared with and without the carbon adders (same quotes)."""

    substation: str
    interval_ms: int
    adder_max: int                      # largest adder of a participant (micro/kWh)
    price_with: int | None              # micro/kWh, cleared terms
    volume_with_wh: int
    emissions_with_g: float
    price_without: int | None
    volume_without_wh: int
    emissions_without_g: float


@dataclass(frozen=True)
class CarbonAccountRow:
    """One participant of the carbon market's cycle: its metered basis and verified value."""

    participant: str
    role: str                  # "pvp" or "cec"
    bus: int
    basis_wh: int              # verified generation (pvp) or import (cec)
    emissions_g: int           # verified emissions (cec), 0 for a pvp
    allowance_g: int           # benchmark allowance (cec), 0 for a pvp
    verified_g: int            # pvp: quota; cec: allowance - emissions (< 0 buys)
    price: int                 # ask (sellers) or bid (buyers), micro-currency per kg


@dataclass(frozen=True)
class CarbonTradeRow:
    """One carbon trade of the cycle and whether its payment crossed the peg."""

    seller: str
    buyer: str
    qty_g: int
    price: int                 # micro-currency per kg
    turnover_micro: int
    phase: int                 # 1: CEC to CEC, 2: PVP to CEC
    transfer: str              # the peg transfer id, "" when no money moved
    minted: bool               # the electricity side minted exactly the lock


@dataclass(frozen=True)
class HeightRow:
    """Chain and anchored heights of one edge at one wall-clock moment."""

    substation: str
    t_ms: int
    height: int
    anchored: int


@dataclass(frozen=True)
class FaultRow:
    at: str
    kind: str
    target: str
    effect: str


@dataclass(frozen=True)
class Invariant:
    name: str
    ok: bool
    detail: str


@dataclass
class RunRecord:
    scenario: str
    seed: int
    intervals: int
    started_ms: int
    wall_s: float = 0.0
    substations: list[str] = field(default_factory=list)
    interval_rows: list[IntervalRow] = field(default_factory=list)
    gateway_rows: list[GatewayRow] = field(default_factory=list)
    carbon_rows: list[CarbonRow] = field(default_factory=list)
    emissions_with_adders_g: list[tuple[int, float]] = field(default_factory=list)
    emissions_without_adders_g: list[tuple[int, float]] = field(default_factory=list)
    emissions_rows: list[EmissionsRow] = field(default_factory=list)
    heights: list[HeightRow] = field(default_factory=list)
    rejections: dict[str, dict[str, int]] = field(default_factory=dict)
    accepted: dict[str, dict[str, int]] = field(default_factory=dict)
    faults: list[FaultRow] = field(default_factory=list)
    carbon_accounts: list[CarbonAccountRow] = field(default_factory=list)
    carbon_trades: list[CarbonTradeRow] = field(default_factory=list)
    carbon_evidence_refused: dict[str, int] = field(default_factory=dict)  # reason -> readings
    invariants: list[Invariant] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.invariants)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for row in d["carbon_rows"]:
            row["intensity_g_kwh"] = {str(k): v for k, v in row["intensity_g_kwh"].items()}
        d["ok"] = self.ok
        return d
