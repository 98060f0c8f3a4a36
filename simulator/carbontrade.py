"""The carbon market after a simulated day: quotas, positions, clearing, settlement, the peg.

One clearing cycle of hub.carbonmarket over the scenario's PV prosumers
(role "pvp") and carbon-and-electricity consumers (role "cec"):

1. Meter evidence. Every telemetry message of a PVP or CEC that the edge
   accepted (its raw bytes in the edge's inbox) is located on the edge chain
   by its telemetry digest, and the hub serves its proof (RFC 6962 inclusion
   + link + main-chain receipt, ``hub.service.receipts.tx_proof``); each piece
   is checked by ``verify_meter_evidence`` exactly as the command line does.
   A reading whose block is not anchored by the hub is not evidence and is
   counted as refused.
2. Quotas. Generation is the reading's gen_wh, which the PV inverter meters
   (simulator.devices.pv, read by the firmware as a "pv" device); a gateway
   without one earns nothing, whatever it exports. The formula is annual
   (M = delta x twelve months of metered PV generation); a cycle here
   covers the simulated day, so a PVP's quota is delta x the day's verified
   generation (``pvp_quota`` over the day's
   period), not an annualised guess: one day of meters earns one day of quota.
3. Positions. A CEC's verified emissions are its verified import per interval
   times the nodal intensity of its bus traced for that interval
   (``rec.carbon_rows``, rounded up to a g/kWh: rounding goes against the
   claimant); an interval without a trace uses the upstream grid's intensity,
   the highest on a feeder whose other sources are zero-carbon PV. Position =
   the scenario's benchmark allowance - emissions.
4. The book's prices. With ``carbon_market.gateway_policy`` "off" they are
   the scenario's (``pvp_ask``, ``cec_bid``, ``cec_ask``). With "limit" or
   "advised" each PVP and CEC gateway runs that carbon policy in its firmware
   (a PVP sells at ``pvp_ask``, a CEC buys at ``cec_bid`` as its limit), sends
   a ``carbon_bid`` with every price signal, its edge chains it, and the
   prices are the carbon bids the hub finds in the edge blocks it holds
   (``hub.carbonmarket.carbonbids``); a participant without one on the side
   its position takes has no order (counted in ``book_refused``).
5. Clearing by ``clear_bilateral`` (CEC surpluses first, then PVP quotas,
   midpoint prices), settled as one block of a carbon chain in the run folder
   (``CarbonSide.settle_cycle``).
6. The peg. Each trade's payment is locked on the carbon chain; the relayer
   (``relayer.run_once``) carries an SPV proof to the electricity side, which
   asks three oracles (each its own process, over HTTP) and mints once; a
   second relayer pass must mint nothing. The books (``peg.balance``) must
   hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.record import CarbonAccountRow, CarbonRow, CarbonTradeRow

PVP_SEQ, CEC_SEQ = 1_000, 0  # CECs submit first: ties go to them (docs/carbon-market.md)


@dataclass
class CarbonMarketResult:
    """What one cycle produced: the record's rows, the peg's books and what was refused."""

    accounts: list[CarbonAccountRow] = field(default_factory=list)
    trades: list[CarbonTradeRow] = field(default_factory=list)
    balance: dict[str, Any] = field(default_factory=dict)
    refused_evidence: dict[str, int] = field(default_factory=dict)
    second_pass_mints: int = 0
    #: the carbon book from the gateways' carbon bids: leaves refused and participants left
    #: out of the book (no carbon bid on their side), by reason
    book_refused: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def books_ok(self) -> bool:
        return bool(self.balance.get("ok")) and self.second_pass_mints == 0 and all(
            t.minted for t in self.trades if t.turnover_micro > 0)


@dataclass(frozen=True)
class Participant:
    """One scenario gateway in the carbon market."""

    gw: str
    role: str          # "pvp" or "cec"
    bus: int
    price: int         # micro-currency per kg: a PVP's ask, a CEC's bid when short
    allowance_g: int = 0
    ask: int = 0       # a CEC's ask when its position is long


def carbon_policy(sc: Any, g: Any) -> dict[str, Any]:
    """The firmware's carbon policy of gateway ``g`` (its ``policy`` entries): on for PVPs and
    CECs when the scenario's ``carbon_market.gateway_policy`` is, with the scenario's prices
    as limits (a CEC in ``cec_sells`` sells at ``cec_ask``, the others buy at ``cec_bid``:
    a policy quotes one side, chosen before the day shows the position); empty (the
    firmware's default "off") otherwise."""
    cm = sc.carbon_market
    if not cm.enabled or cm.gateway_policy == "off" or g.role not in ("pvp", "cec"):
        return {}
    if g.role == "pvp":
        side, limit = "sell", cm.pvp_ask
    else:
        side, limit = ("sell", cm.cec_ask) if g.id in cm.cec_sells else ("buy", cm.cec_bid)
    return {"carbon_bid": cm.gateway_policy, "carbon_side": side, "carbon_limit": limit}


def carbon_book(day: Any, start_s: int, end_s: int) -> tuple[dict[str, Any], dict[str, int]]:
    """The gateways' carbon bids sent during [start_s, end_s) among the edge blocks the hub holds
    (gw -> hub.carbonmarket.carbonbids.SeenBid), and leaves refused by reason.

    Read from the simulated hub's database; a real hub (no database here) and a real
    edge are counted as ``hub_not_read`` (their bids are not in this book)."""
    from hub.carbonmarket.carbonbids import carbon_bids
    from hub.service.receipts import edge_leaves

    by_gw: dict[str, Any] = {}
    refused: dict[str, int] = {}
    if not hasattr(day.hub, "database"):
        return by_gw, {"hub_not_read": 1}
    db = day.hub.database()
    try:
        for run in day.subs.values():
            if run.edge is None:
                refused["hub_not_read"] = refused.get("hub_not_read", 0) + 1
                continue
            got = carbon_bids(edge_leaves(db, run.edge.edge_id), run.id, start_s, end_s)
            by_gw.update(got.by_gw)
            for k, v in got.refused.items():
                refused[k] = refused.get(k, 0) + v
    finally:
        db.close()
    return by_gw, refused


def evidence_of(day: Any, gws: Iterable[str]
                ) -> tuple[list[dict[str, Any]], list[str], dict[str, int]]:
    """The hub-served evidence of every accepted telemetry with energy of ``gws``.

    Returns (evidence documents, registered edge ids, readings without
    evidence by reason). Each edge's chain is scanned for telemetry digests;
    the hub serves the proofs (from its database when the simulator runs it, over
    its API when it is a real one).
    """
    from edge.chain.store import ChainStore

    wanted = set(gws)
    docs: list[dict[str, Any]] = []
    edges: list[str] = []
    missing = {"not_on_chain": 0, "not_at_hub": 0}
    prove, close = _prover(day.hub)
    try:
        for run in day.subs.values():
            if run.edge is None:   # a real edge: its inbox (the readings) is its own
                continue
            edge_id = run.edge.edge_id
            edges.append(edge_id)
            where: dict[str, tuple[int, int]] = {}
            with ChainStore(run.edge.cfg.chain_path, readonly=True) as store:
                for h in range(store.height() + 1):
                    for i, raw in enumerate(store.tx_bytes(h)):
                        tx = json.loads(raw)
                        if tx.get("type") == "telemetry_digest" and tx.get("gw") in wanted:
                            where[tx["sha256"]] = (h, i)
            con = sqlite3.connect(f"file:{run.edge.cfg.inbox_path}?mode=ro", uri=True,
                                  timeout=5)
            try:
                rows = con.execute("SELECT gw, raw FROM inbox WHERE type = 'telemetry'").fetchall()
            finally:
                con.close()
            for gw, raw in rows:
                if gw not in wanted:
                    continue
                payload = bytes(raw).decode("utf-8") if not isinstance(raw, str) else raw
                if '"energy"' not in payload:
                    continue
                at = where.get(hashlib.sha256(payload.encode("utf-8")).hexdigest())
                if at is None:  # accepted but not on the chain: no evidence
                    missing["not_on_chain"] += 1
                    continue
                try:
                    proof = prove(edge_id, *at)
                except Exception:  # noqa: BLE001 - the hub does not have that block: no proof
                    missing["not_at_hub"] += 1
                    continue
                docs.append({"payload": payload, "proof": proof})
    finally:
        close()
    return docs, edges, {k: v for k, v in missing.items() if v}


def _prover(hub: Any) -> tuple[Any, Any]:
    """(proof of (edge, height, index), close): the simulated hub's database or a real hub's
    API (which only has a `tx_proof` call)."""
    if not hasattr(hub, "database"):
        return hub.tx_proof, lambda: None
    from hub.service.receipts import tx_proof

    db = hub.database()
    return (lambda edge_id, h, i: tx_proof(db, edge_id, h, i)), db.close


def verified_readings(docs: Sequence[Any], hub_id: str, edges: Sequence[str]
                      ) -> tuple[list[Any], dict[str, int]]:
    """The readings whose evidence checks; the rest counted by refusal reason."""
    from hub.carbonmarket.errors import Refused
    from hub.carbonmarket.quota import verify_meter_evidence

    out, refused = [], {}
    for d in docs:
        try:
            r = verify_meter_evidence(d, hub_id, edges)
        except Refused as exc:
            key = exc.reason.value
            refused[key] = refused.get(key, 0) + 1
            continue
        out.append(r)
    return out, refused


def bus_intensities(rows: Sequence[CarbonRow], bus: int, interval_s: int) -> dict[int, int]:
    """interval start (s) -> the bus's traced intensity, rounded up to a g/kWh."""
    return {r.interval_ms // 1000: math.ceil(r.intensity_g_kwh[bus])
            for r in rows if bus in r.intensity_g_kwh}


class InProcessOracles:
    """Three oracles called directly (the same code as the service, minus HTTP)."""

    def __init__(self, requesters: Mapping[str, str], chains: Mapping[str, Path]) -> None:
        from edge.chain.keys import generate_key
        from hub.carbonmarket.oracle import Oracle
        from hub.carbonmarket.oracleserver import store_reader

        readers = {cid: store_reader(path) for cid, path in chains.items()}
        self.oracles = [Oracle(generate_key(), requesters, readers) for _ in range(3)]
        self.ids = [o.id for o in self.oracles]

    def start(self) -> None:
        pass

    def ask(self, request: dict[str, Any]) -> list[Any]:
        return [o.answer(request) for o in self.oracles]

    def close(self) -> None:
        pass


class ProcessOracles:
    """Three ``carbon-market oracle-serve`` processes, asked over HTTP (HttpOracles)."""

    def __init__(self, requesters: Mapping[str, str], chains: Mapping[str, Path]) -> None:
        from simulator.oracleproc import OracleProcess

        folder = next(iter(chains.values())).parent / "oracles"
        self.procs = [OracleProcess(folder / f"o{i}", requesters, chains) for i in range(3)]
        self.ids = [p.id for p in self.procs]
        self._ask: Any = None

    def start(self) -> None:
        from hub.carbonmarket.oracleclient import HttpOracles

        for p in self.procs:
            p.start()
        self._ask = HttpOracles([p.url for p in self.procs])

    def ask(self, request: dict[str, Any]) -> list[Any]:
        return self._ask(request)

    def close(self) -> None:
        for p in self.procs:
            p.stop()


def carbon_cycle_core(
    participants: Sequence[Participant], readings: Sequence[Any], carbon_rows: Sequence[CarbonRow],
    start_s: int, end_s: int, interval_s: int, delta_g_per_kwh: int, fallback_g_per_kwh: int,
    folder: Path, now_ms: int, refused: Mapping[str, int] | None = None,
    oracles: Any = InProcessOracles, book: Mapping[str, Any] | None = None,
    book_refused: Mapping[str, int] | None = None,
) -> CarbonMarketResult:
    """Quotas, positions, clearing, settlement and the peg for verified readings (pure inputs).

    ``book`` (gw -> carbon bid seen on a chain, ``hub.carbonmarket.carbonbids``): when given,
    the book's prices are those bids and a participant without one on its side has no order;
    when None, the participants' own prices."""
    from edge.chain.keys import generate_key, public_id
    from hub.carbonmarket import relayer
    from hub.carbonmarket.carbonbids import book_price
    from hub.carbonmarket.clearing import Participant as Bid
    from hub.carbonmarket.clearing import clear_bilateral
    from hub.carbonmarket.peg import CarbonSide, ElectricitySide, balance
    from hub.carbonmarket.quota import (
        QuotaConfig,
        accounting_entry,
        cec_position,
        emissions_g,
        interval_energy,
        pvp_quota,
    )
    from hub.carbonmarket.submissions import Submissions

    config = QuotaConfig(delta_g_per_kwh)
    res = CarbonMarketResult(refused_evidence=dict(refused or {}),
                             book_refused=dict(book_refused or {}))
    entries, bids = [], []
    for n, p in enumerate(participants):
        if p.role == "pvp":
            q = pvp_quota(readings, p.gw, start_s, end_s, config)
            verified, basis_wh, emitted = q.quota_g, q.gen_wh, 0
            basis = {"gen_wh": q.gen_wh, "intervals": q.intervals,
                     "delta_g_per_kwh": q.delta_g_per_kwh, "delta_source": q.delta_source}
            seq = PVP_SEQ + n
        else:
            imp = interval_energy(readings, p.gw, start_s, end_s, "imp_wh")
            inten = bus_intensities(carbon_rows, p.bus, interval_s)
            ks = sorted(imp)
            emitted = emissions_g([imp[k] for k in ks],
                                  [inten.get(k, fallback_g_per_kwh) for k in ks])
            pos = cec_position(p.gw, p.allowance_g, emitted)
            verified, basis_wh = pos.position_g, sum(imp.values())
            basis = {"imp_wh": basis_wh, "intervals": len(ks), "allowance_g": p.allowance_g,
                     "emissions_g": emitted,
                     "untraced_intervals": sum(1 for k in ks if k not in inten)}
            seq = CEC_SEQ + n
        entries.append(accounting_entry(p.gw, p.role, start_s, end_s, verified, verified, basis))
        price: int | None = p.ask if p.role == "cec" and verified > 0 else p.price
        if book is not None:
            price = book_price(p.role, verified, book.get(p.gw))
        if price is None:  # no carbon bid on the side its position takes: no order
            res.book_refused["no_carbon_bid"] = res.book_refused.get("no_carbon_bid", 0) + 1
            price = 0
        else:
            bids.append(Bid(p.gw, p.role, verified, price, seq))  # type: ignore[arg-type]
        res.accounts.append(CarbonAccountRow(p.gw, p.role, p.bus, basis_wh, emitted,
                                             p.allowance_g, verified, price))
    clearing = clear_bilateral(bids)

    folder.mkdir(parents=True, exist_ok=True)
    c_key, e_key = generate_key(), generate_key()
    requesters = {"carbon": public_id(c_key.public_key()),
                  "electricity": public_id(e_key.public_key())}
    chains = {"carbon": folder / "carbon.db", "electricity": folder / "electricity-peg.db"}
    voters = oracles(requesters, chains)
    c = CarbonSide(chains["carbon"], "carbon", c_key, "electricity",
                   requesters["electricity"], voters.ids, voters.ask)
    e = ElectricitySide(chains["electricity"], "electricity", e_key, "carbon",
                        requesters["carbon"], voters.ids, voters.ask)
    cfg = relayer.Config(str(folder / "carbon.db"), str(folder / "electricity-peg.db"),
                         str(folder / "carbon-box.db"), str(folder / "electricity-box.db"),
                         str(folder / "relayer.db"))
    try:
        voters.start()  # the chain stores exist now: the oracles can read them
        transfers = c.settle_cycle(1, entries, clearing, now_ms)

        def relay_pass() -> int:
            made = relayer.run_once(cfg)
            for side, path in ((e, cfg.electricity_box), (c, cfg.carbon_box)):
                box = Submissions(path)
                try:
                    side.process(box, now_ms)
                finally:
                    box.close()
            return made["mint"]

        relay_pass()
        before = dict(e.minted)
        relay_pass()   # a second pass finds nothing left to carry
        res.second_pass_mints = len(e.minted) - len(before)
        b = balance(c, e)
        res.balance = b.as_dict() | {"refusals_c": dict(c.refusals.counts),
                                     "refusals_e": dict(e.refusals.counts)}
        locked = set(transfers)
        for n, t in enumerate(clearing.trades):
            tid = f"c1-{n}"
            m = e.minted.get(tid)
            res.trades.append(CarbonTradeRow(
                t.seller, t.buyer, t.qty_g, t.price, t.turnover_micro, t.phase,
                tid if tid in locked else "", m is not None and m.amount == t.turnover_micro))
    finally:
        voters.close()
        c.close()
        e.close()
    res.files = {"carbon chain": str(folder / "carbon.db"),
                 "electricity peg chain": str(folder / "electricity-peg.db")}
    return res


def participants_of(sc: Any) -> list[Participant]:
    """The scenario's PVPs and CECs; a day's allowance is shared pro rata by a shorter run."""
    cm = sc.carbon_market
    day_s = 86_400
    run_s = sc.day.intervals * sc.day.interval_s
    out = []
    for g in sc.gateways:
        if g.role == "pvp":
            out.append(Participant(g.id, "pvp", g.bus, cm.pvp_ask))
        elif g.role == "cec":
            allowance = cm.cec_allowance.get(g.id, cm.cec_allowance_g) * run_s // day_s
            out.append(Participant(g.id, "cec", g.bus, cm.cec_bid, allowance, cm.cec_ask))
    return out


def carbon_cycle(day: Any, rec: Any) -> CarbonMarketResult:
    """One cycle of the carbon market over the finished day (the hub still running)."""
    from simulator.day import GRID_INTENSITY_T_PER_MWH

    sc = day.sc
    parts = participants_of(sc)
    docs, edges, missing = evidence_of(day, [p.gw for p in parts])
    readings, refused = verified_readings(docs, day.hub.hub_id, edges)
    refused.update(missing)
    start = sc.day.start_ms // 1000
    end = start + sc.day.intervals * sc.day.interval_s
    book, book_refused = (None, None) if sc.carbon_market.gateway_policy == "off" else \
        carbon_book(day, start, end)
    return carbon_cycle_core(parts, readings, rec.carbon_rows, start, end, sc.day.interval_s,
                             sc.carbon_market.delta_g_per_kwh,
                             round(GRID_INTENSITY_T_PER_MWH * 1000), day.out / "carbon",
                             end * 1000, refused, oracles=ProcessOracles, book=book,
                             book_refused=book_refused)


def apply(rec: Any, res: CarbonMarketResult, out: Path) -> None:
    """Put a cycle's rows, files and invariant into the record."""
    from simulator.record import Invariant

    rec.carbon_accounts = res.accounts
    rec.carbon_trades = res.trades
    rec.carbon_evidence_refused = dict(res.refused_evidence) | {
        f"book_{k}": v for k, v in res.book_refused.items()}
    for k, v in res.files.items():
        rec.files[k] = str(Path(v).relative_to(out)) if Path(v).is_relative_to(out) else v
    b = res.balance
    detail = (f"{len(res.trades)} trades; locked {b.get('locked_c')} = released "
              f"{b.get('released_c')} + outstanding {b.get('outstanding_e')} + spent "
              f"{b.get('spent_e')} + in transit {b.get('to_mint', 0) + b.get('to_release', 0)}"
              f"; second relayer pass minted {res.second_pass_mints}")
    if b.get("problems"):
        detail += "; " + "; ".join(b["problems"][:3])
    rec.invariants.append(Invariant("peg books balance, no asset on both chains",
                                    res.books_ok, detail))
