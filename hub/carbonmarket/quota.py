"""Quotas of PV prosumers and positions of carbon-and-electricity consumers, from metered data.

A PV prosumer's (PVP) annual quota is M = delta x its metered PV generation
over the accounting year. The generation is read from the edge chains, never
from an estimate: each reading is a telemetry message whose digest is a
transaction of an edge block, proven by an RFC 6962 inclusion proof to that
block's header and by a hub receipt to a main-chain block
(``edge.sync.receipts.check_anchored_tx``, the same check the hub's
``check-receipt`` runs). The generation that already backs green
certificates is deducted, so one kWh is never sold twice.

A consumer's (CEC) position is its benchmark allowance minus its verified
emissions: its metered consumption times the nodal carbon intensity of its
bus, which the hub's carbon-flow tracer computes (``traced_bus_intensities``
calls it). Negative: a buyer; positive: a seller.

Rounding always goes against the claimant (docs/carbon-market.md): a quota is
rounded down, emissions are rounded up.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from edge.market.certificates import CERTIFICATE_WH
from edge.protocol.canonical import canonical
from edge.protocol.messages import Telemetry
from edge.sync.receipts import check_anchored_tx

from .errors import Reason, Refused

#: Bounds applied before any arithmetic (hostile input).
MAX_PAYLOAD = 64 * 1024
MAX_DELTA_G_PER_KWH = 5_000
MAX_GRAMS = 1 << 50
MAX_PERIOD_S = 366 * 86_400

#: The default delta and where it comes from (docs/carbon-market.md, "delta").
DEFAULT_DELTA_G_PER_KWH = 820
DEFAULT_DELTA_SOURCE = (
    "IPCC AR5 WG III (2014), Annex III, Table A.III.2: life-cycle emissions of "
    "pulverised-coal generation, median 820 g CO2eq/kWh (the coal a PV kWh displaces)"
)


@dataclass(frozen=True)
class QuotaConfig:
    """delta: grams of CO2 avoided per metered PV kWh, and the source it was taken from.

    The source is recorded on the carbon chain beside every quota so that an
    auditor can see which factor was used and why.
    """

    delta_g_per_kwh: int = DEFAULT_DELTA_G_PER_KWH
    delta_source: str = DEFAULT_DELTA_SOURCE

    def __post_init__(self) -> None:
        d = self.delta_g_per_kwh
        if not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= MAX_DELTA_G_PER_KWH:
            raise ValueError(f"delta_g_per_kwh must be an integer in 0..{MAX_DELTA_G_PER_KWH}")
        if not isinstance(self.delta_source, str) or not self.delta_source.strip():
            raise ValueError("delta_source must name where delta comes from")

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any]) -> QuotaConfig:
        extra = set(doc) - {"delta_g_per_kwh", "delta_source"}
        if extra:
            raise ValueError(f"unknown quota settings: {sorted(extra)}")
        return cls(**doc)


@dataclass(frozen=True)
class MeterReading:
    """One interval's metered energy of one gateway, proven to be on an anchored edge chain."""

    edge: str
    height: int
    index: int
    site: str
    gw: str
    interval: int
    gen_wh: int
    imp_wh: int


def _bad(message: str) -> Refused:
    return Refused(Reason.BAD_EVIDENCE, message)


def verify_meter_evidence(
    doc: Any, hub_id: str, edges: Iterable[str] | None = None
) -> MeterReading:
    """Check one reading's evidence; return the reading or raise ``Refused``.

    ``doc`` = {"payload": <the telemetry message exactly as the edge received
    it, as text>, "proof": <a transaction proof with anchor, as the hub's
    ``GET /edges/{id}/blocks/{h}/txs/{i}/proof`` returns it>}. ``edges``, when
    given, are the edge ids allowed to vouch for readings (the registry).
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), str):
        raise _bad("evidence must be an object with a payload string and a proof")
    payload = doc["payload"].encode("utf-8")
    if len(payload) > MAX_PAYLOAD:
        raise _bad(f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD} limit")
    proof = doc.get("proof")
    problems = check_anchored_tx(proof, hub_id)
    if problems:
        raise _bad(f"proof refused: {problems[0]}")
    assert isinstance(proof, dict)  # check_anchored_tx refuses anything else
    producer = proof["header"]["producer"]
    if edges is not None and producer not in set(edges):
        raise _bad(f"edge {producer[:16]}... is not a registered edge")
    tx = proof["tx"]
    if not isinstance(tx, dict) or tx.get("type") != "telemetry_digest":
        raise _bad("the proven transaction is not a telemetry digest")
    if hashlib.sha256(payload).hexdigest() != tx.get("sha256"):
        raise _bad("the payload is not the message whose digest is on the chain")
    try:
        msg = Telemetry.model_validate_json(payload)
    except ValidationError as exc:
        raise _bad(f"payload is not a telemetry message: {exc.errors()[0]['msg']}") from None
    if msg.gw != tx.get("gw") or msg.seq != tx.get("seq"):
        raise _bad("the payload's gateway or seq differs from the digest's")
    if msg.energy is None:
        raise _bad("the telemetry message carries no interval energy")
    return MeterReading(producer, proof["header"]["height"], proof["index"], msg.site, msg.gw,
                        msg.energy.interval, msg.energy.gen_wh, msg.energy.imp_wh)


def _period(start: int, end: int) -> None:
    if not 0 <= start < end or end - start > MAX_PERIOD_S:
        raise ValueError(f"period [{start}, {end}) must be non-empty and at most 366 days")


def interval_energy(
    readings: Iterable[MeterReading], gw: str, start: int, end: int, field: str = "gen_wh"
) -> dict[int, int]:
    """``field`` per interval of one gateway in [start, end), each interval once.

    A reading repeated (a replayed message, the same interval on two blocks)
    counts once; two readings of one interval that disagree are refused,
    since at most one of them can be the meter's.
    """
    _period(start, end)
    out: dict[int, int] = {}
    for r in readings:
        if r.gw != gw or not start <= r.interval < end:
            continue
        value = getattr(r, field)
        if out.setdefault(r.interval, value) != value:
            raise Refused(Reason.CONFLICTING_READING,
                          f"two readings of {gw} for interval {r.interval} disagree "
                          f"({out[r.interval]} and {value} Wh)")
    return out


@dataclass(frozen=True)
class Quota:
    gw: str
    period_start: int
    period_end: int
    intervals: int
    gen_wh: int
    certified_wh: int
    eligible_wh: int
    delta_g_per_kwh: int
    delta_source: str
    quota_g: int


def certified_wh(txs: Iterable[Mapping[str, Any]], holder: str, start: int, end: int) -> int:
    """Wh that back green certificates issued to ``holder`` for intervals in [start, end).

    ``txs`` are the edge chain's transactions (the certificate register is
    rebuilt from the chain: ``edge.market.certificates.Certificate.as_tx``).
    """
    total = 0
    for tx in txs:
        if tx.get("kind") == "certificate" and tx.get("holder") == holder \
                and isinstance(tx.get("interval"), int) and start <= tx["interval"] < end:
            wh = tx.get("wh")
            if wh != CERTIFICATE_WH:
                raise ValueError(f"certificate {tx.get('serial')!r} is not {CERTIFICATE_WH} Wh")
            total += wh
    return total


def pvp_quota(
    readings: Iterable[MeterReading],
    gw: str,
    start: int,
    end: int,
    config: QuotaConfig,
    certified: int = 0,
) -> Quota:
    """M = delta x (metered generation - generation already certified), rounded down to a gram."""
    per_interval = interval_energy(readings, gw, start, end)
    gen = sum(per_interval.values())
    if not isinstance(certified, int) or certified < 0:
        raise ValueError("certified Wh must be a non-negative integer")
    if certified > gen:
        raise ValueError(f"{gw}: {certified} Wh certified but only {gen} Wh metered")
    eligible = gen - certified
    quota_g = config.delta_g_per_kwh * eligible // 1000
    return Quota(gw, start, end, len(per_interval), gen, certified, eligible,
                 config.delta_g_per_kwh, config.delta_source, quota_g)


def emissions_g(consumption_wh: Sequence[int], intensity_g_per_kwh: Sequence[int | None]) -> int:
    """Sum of consumption x nodal intensity over the period's snapshots, rounded up to a gram.

    A snapshot in which the bus carries no flow (intensity None) may have no
    consumption either: energy without a traced intensity cannot be verified.
    """
    if len(consumption_wh) != len(intensity_g_per_kwh):
        raise ValueError(f"{len(consumption_wh)} consumption values but "
                         f"{len(intensity_g_per_kwh)} intensities")
    milli = 0
    for k, (wh, e) in enumerate(zip(consumption_wh, intensity_g_per_kwh, strict=True)):
        if not isinstance(wh, int) or isinstance(wh, bool) or not 0 <= wh <= (1 << 40):
            raise ValueError(f"consumption[{k}] must be a non-negative integer Wh")
        if e is None:
            if wh:
                raise ValueError(f"consumption[{k}] = {wh} Wh on a bus with no traced flow")
            continue
        if not isinstance(e, int) or isinstance(e, bool) or not 0 <= e <= 100_000:
            raise ValueError(f"intensity[{k}] must be an integer g/kWh in 0..100000")
        milli += wh * e
    return -(-milli // 1000)


@dataclass(frozen=True)
class Position:
    participant: str
    allowance_g: int
    emissions_g: int
    position_g: int  # > 0 seller, < 0 buyer


def cec_position(participant: str, allowance_g: int, emitted_g: int) -> Position:
    """Benchmark allowance minus verified emissions (negative: must buy)."""
    for name, v in (("allowance_g", allowance_g), ("emissions_g", emitted_g)):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_GRAMS:
            raise ValueError(f"{name} must be an integer in 0..2^50")
    return Position(participant, allowance_g, emitted_g, allowance_g - emitted_g)


def traced_bus_intensities(
    net: Any, snapshots: Sequence[Mapping[str, Any] | None], buses: Sequence[int]
) -> dict[int, list[int | None]]:
    """Nodal intensity (g/kWh) of ``buses`` in each snapshot, from the hub's carbon tracer.

    Each snapshot is traced on a copy of ``net`` (the tracer writes the
    snapshot into the network it is given).
    """
    from hub.carbon import report_network

    out: dict[int, list[int | None]] = {b: [] for b in buses}
    for snap in snapshots:
        report = report_network(copy.deepcopy(net), snap)
        by_bus = {b.bus: b.intensity_g_per_kwh for b in report.buses}
        for b in buses:
            if b not in by_bus:
                raise ValueError(f"bus {b} is not in the network")
            out[b].append(by_bus[b])
    return out


def evidence_digest(docs: Sequence[Any]) -> str:
    """SHA-256 of the canonical evidence list: what an accounting entry commits to."""
    return hashlib.sha256(canonical(list(docs))).hexdigest()


def accounting_entry(
    participant: str, role: str, start: int, end: int, estimate_g: int, verified_g: int,
    basis: Mapping[str, Any],
) -> dict[str, Any]:
    """The emission-accounting transaction: the participant's estimate beside the verified value.

    Trading uses ``verified_g`` only; the estimate stays on the chain so that
    the gap between claims and meters is visible.
    """
    if role not in ("pvp", "cec"):
        raise ValueError(f"role must be pvp or cec, not {role!r}")
    for name, v in (("estimate_g", estimate_g), ("verified_g", verified_g)):
        if not isinstance(v, int) or isinstance(v, bool) or abs(v) > MAX_GRAMS:
            raise ValueError(f"{name} must be an integer of at most 2^50 g")
    entry = {"kind": "accounting", "participant": participant, "role": role,
             "period_start": start, "period_end": end, "estimate_g": estimate_g,
             "verified_g": verified_g, "basis": dict(basis)}
    canonical(entry)  # refuses floats anywhere in the basis
    return entry


def quota_basis(q: Quota, evidence: Sequence[Any]) -> dict[str, Any]:
    return {"gen_wh": q.gen_wh, "certified_wh": q.certified_wh, "eligible_wh": q.eligible_wh,
            "intervals": q.intervals, "delta_g_per_kwh": q.delta_g_per_kwh,
            "delta_source": q.delta_source, "evidence_sha256": evidence_digest(evidence)}
