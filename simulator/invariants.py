"""The invariants of a simulated day: each a pure check over the day's record.

Each returns an `Invariant` (name, ok, one-line detail naming the first
offender), so the report lists them and `make sim` exits non-zero when one
breaks. Checks that need the chains or the hub get the facts they need as
arguments, gathered by the orchestrator, so each stays a function of data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from simulator.record import Invariant, RunRecord


def money_balances(rec: RunRecord) -> Invariant:
    """Per substation and interval, what buyers pay equals what sellers receive (no fees)."""
    sums: dict[tuple[str, int], int] = defaultdict(int)
    for g in rec.gateway_rows:
        sums[(g.substation, g.interval_ms)] += g.money_micro
    bad = [(k, v) for k, v in sorted(sums.items()) if v != 0]
    name = "money balances in every interval"
    if bad:
        (s, t), v = bad[0]
        return Invariant(name, False, f"{len(bad)} intervals off; first {s} at {t}: {v:+d} µ")
    return Invariant(name, True, f"{len(sums)} substation-intervals, buyers paid = sellers got")


def energy_balances(rec: RunRecord, resolution_wh: int = 1) -> Invariant:
    """Per substation and interval, energy bought equals energy sold (what was settled)."""
    sums: dict[tuple[str, int], int] = defaultdict(int)
    for g in rec.gateway_rows:
        sums[(g.substation, g.interval_ms)] += g.traded_wh
    vol = {(r.substation, r.interval_ms): r.volume_wh for r in rec.interval_rows}
    name = "energy settled balances and equals the cleared volume"
    for k, v in sorted(sums.items()):
        if abs(v) > resolution_wh:
            return Invariant(name, False, f"{k[0]} at {k[1]}: bought - sold = {v} Wh")
        sold = -sum(g.traded_wh for g in rec.gateway_rows
                    if (g.substation, g.interval_ms) == k and g.traded_wh < 0)
        if k in vol and abs(sold - vol[k]) > resolution_wh:
            return Invariant(name, False, f"{k[0]} at {k[1]}: settled {sold} Wh, cleared "
                                          f"{vol[k]} Wh")
    return Invariant(name, True, f"{len(sums)} substation-intervals")


def grid_residuals(rec: RunRecord, max_w: Mapping[str, int], interval_s: int) -> Invariant:
    """traded + battery + grid = net metered; the grid part is physically possible.

    The grid exchange of a gateway is what is left of its metered net energy
    after what it traded and what its battery took; it can never exceed what
    the connection's rating allows in an interval.
    """
    name = "traded + battery + grid = net metered, grid within the connection rating"
    for g in rec.gateway_rows:
        grid = g.net_wh - g.traded_wh - g.battery_wh
        cap = max_w.get(g.gateway, 0) * interval_s // 3600 * 2
        if cap and abs(grid) > cap:
            return Invariant(name, False, f"{g.gateway} at {g.interval_ms}: grid {grid} Wh is "
                                          f"beyond its {cap} Wh connection")
    return Invariant(name, True, f"{len(rec.gateway_rows)} gateway-intervals")


def limits_respected(rec: RunRecord) -> Invariant:
    """Nobody trades at a price worse than its own limit, nor is settled beyond it.

    The clearing price of the interval and the money each gateway's
    settlement moved are both checked: a buyer pays at most its limit times
    its energy (plus the one micro-unit the settlement's rounding may add),
    a seller receives at least that.
    """
    price = {(r.substation, r.interval_ms): r.price for r in rec.interval_rows}
    name = "no trade at a price worse than the participant's limit"
    n = 0
    for g in rec.gateway_rows:
        if not g.traded_wh or g.limit is None:
            continue
        p = price.get((g.substation, g.interval_ms))
        n += 1
        if p is None:
            return Invariant(name, False, f"{g.gateway} traded at {g.interval_ms} with no price")
        if (g.traded_wh > 0 and p > g.limit) or (g.traded_wh < 0 and p < g.limit):
            side = "buyer" if g.traded_wh > 0 else "seller"
            return Invariant(name, False, f"{side} {g.gateway} at {g.interval_ms}: price {p} "
                                          f"beyond its limit {g.limit}")
        # what was settled: within one micro-unit of rounding (edge.market.settlement)
        at_limit = abs(g.traded_wh) * g.limit // 1000
        if (g.traded_wh > 0 and -g.money_micro > at_limit + 1) or (
                g.traded_wh < 0 and g.money_micro < at_limit):
            side = "buyer" if g.traded_wh > 0 else "seller"
            return Invariant(name, False, f"{side} {g.gateway} at {g.interval_ms}: settled "
                                          f"{abs(g.money_micro)} µ for {abs(g.traded_wh)} Wh, "
                                          f"beyond its limit {g.limit} ({at_limit} µ)")
    return Invariant(name, True, f"{n} trades and their settlements checked against their "
                                 "limits")


def chains_verify(reports: Mapping[str, tuple[bool, str, int]]) -> Invariant:
    """Every edge chain verifies (substation -> (ok, reason, blocks))."""
    bad = {s: r for s, r in reports.items() if not r[0]}
    name = "every block of every edge chain verifies"
    if bad:
        s, (_, reason, _) = next(iter(sorted(bad.items())))
        return Invariant(name, False, f"{s}: {reason}")
    done = ", ".join(f"{s} {r[2]} blocks" for s, r in sorted(reports.items()))
    return Invariant(name, True, done)


def chains_replay(outcomes: Mapping[str, tuple[int, str | None]]) -> Invariant:
    """Every edge chain is rebuilt from its input journal with identical block hashes
    (substation -> (blocks replayed, where it diverged or None); docs/simulator.md "Replay")."""
    name = "every edge chain replays from its journal, block hashes identical"
    bad = {s: o for s, o in outcomes.items() if o[1] is not None}
    if bad:
        s, (_, where) = next(iter(sorted(bad.items())))
        return Invariant(name, False, f"{s}: {where}")
    return Invariant(name, True, ", ".join(f"{s} {o[0]} blocks"
                                           for s, o in sorted(outcomes.items())))


def heads_anchored(heads: Mapping[str, int], anchored: Mapping[str, int],
                   receipts_ok: Mapping[str, bool]) -> Invariant:
    """Every edge's head is anchored on the main chain and every receipt checks."""
    name = "every edge head anchored on the main chain, every receipt checks"
    for s, h in sorted(heads.items()):
        if anchored.get(s, -1) < h:
            return Invariant(name, False, f"{s}: head {h}, anchored only to {anchored.get(s)}")
        if not receipts_ok.get(s, False):
            return Invariant(name, False, f"{s}: a receipt does not check")
    return Invariant(name, True, ", ".join(f"{s} to {h}" for s, h in sorted(heads.items())))


def all_in_blocks(accepted: Mapping[str, int], on_chain: Mapping[str, int]) -> Invariant:
    """Every accepted reading and bid is in a block (substation -> counts)."""
    name = "every accepted reading and bid is in a block"
    for s, n in sorted(accepted.items()):
        if on_chain.get(s, 0) < n:
            return Invariant(name, False, f"{s}: {n} accepted, {on_chain.get(s, 0)} on the chain")
    return Invariant(name, True, ", ".join(f"{s} {n}" for s, n in sorted(accepted.items())))


def carbon_conserved(rec: RunRecord, rel_tol: float = 1e-6) -> Invariant:
    """Generation emissions = load emissions + loss emissions in every traced interval."""
    name = "carbon conserved: generation = load + losses"
    worst = 0.0
    for c in rec.carbon_rows:
        err = abs(c.generation_g - c.load_g - c.loss_g) / max(abs(c.generation_g), 1.0)
        worst = max(worst, err)
        if err > rel_tol:
            return Invariant(name, False, f"interval {c.interval_ms}: relative error {err:.2e}")
    if not rec.carbon_rows:
        return Invariant(name, True, "no interval traced in this scenario")
    return Invariant(name, True, f"{len(rec.carbon_rows)} intervals, worst relative error "
                                 f"{worst:.1e}")


def fixed_points(finals: Iterable[tuple[str, int, object]],
                 why_not: Callable[[object], str | None],
                 excused: Mapping[str, int] | None = None) -> Invariant:
    """The final round of every interval is a best-response fixed point.

    `why_not(book)` names a participant that could still improve by a
    unilateral move within its limit, or None (simulator.fixedpoint).
    `excused` counts the intervals left out, by why (a fault cut participants
    off during their rounds; the mover's revision came after its round): the
    caller decides which, the detail says how many.
    """
    name = "the final round of every interval is a best-response fixed point"
    n = 0
    for s, t, book in finals:
        n += 1
        why = why_not(book)
        if why is not None:
            return Invariant(name, False, f"{s} at {t}: {why}")
    left = ", ".join(f"{n} {why}" for why, n in sorted((excused or {}).items()) if n)
    more = f"; not judged: {left}" if left else ""
    return Invariant(name, True, f"{n} final rounds, nobody can improve within its "
                                 f"limit{more}")


def sealed_before_closure(leaks: Iterable[str]) -> Invariant:
    """Nothing of a sealed bid is readable before its gate closes (list of places it leaked)."""
    leaks = list(leaks)
    name = "sealed bids unreadable before their gate closes"
    if leaks:
        return Invariant(name, False, f"{len(leaks)} leaks; first: {leaks[0]}")
    return Invariant(name, True, "ciphertext only before each gate: chains (all the hub "
                                 "received), inboxes, what a broker observer saw")


def allocation_recorded(periods: Mapping[int, tuple[int | None, int]],
                        intervals: int) -> Invariant:
    """The hub's allocation loop ran for every interval and recorded each on its main chain.

    `periods` maps an interval index to (main height of its block, signals published);
    a period nobody quoted has no block and is fine; a period the loop never ran is not.
    """
    name = "the allocation loop recorded every period on the main chain"
    missing = [k for k in range(intervals) if k not in periods]
    if missing:
        return Invariant(name, False, f"{len(missing)} periods never ran; first index "
                                      f"{missing[0]}")
    blocks = sum(1 for h, _ in periods.values() if h is not None)
    signals = sum(n for _, n in periods.values())
    return Invariant(name, True, f"{blocks} period blocks, {signals} price signals published")
