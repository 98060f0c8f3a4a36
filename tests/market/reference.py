"""Plain, slow restatements of the clearing spec, written independently of
edge.market.clearing so that property tests compare two readings of the text.

Nothing clever here on purpose: every iteration re-sorts the active orders
and walks them one by one.
"""

from __future__ import annotations

from edge.market.clearing import Order, Unit

Result = tuple[int | None, int, str, dict[str, tuple[int, str]]]


def reference_uniform(orders: list[Order]) -> Result:
    """Return (price, volume, regime, {id: (qty, status)}) per clearing-spec.md."""
    excluded: set[str] = set()
    regime = "no_trade"
    while True:
        sells = [o for o in orders if o.side == "sell" and o.id not in excluded]
        buys = [o for o in orders if o.side == "buy" and o.id not in excluded]
        sells.sort(key=lambda o: (o.price, o.seq))
        buys.sort(key=lambda o: (-o.price, o.seq))
        qs = sum(o.qty_wh for o in sells)
        qd = sum(o.qty_wh for o in buys)
        got = {o.id: 0 for o in orders}
        if qs == 0 or qd == 0:
            price, volume = None, 0
            break
        if qs >= qd:
            long_side, short_side, need = sells, buys, qd
        else:
            long_side, short_side, need = buys, sells, qs
        for o in short_side:
            got[o.id] = o.qty_wh
        left = need
        marginal = None
        for i, o in enumerate(long_side):
            if left == 0:
                break
            take = min(left, o.qty_wh)
            got[o.id] = take
            left -= take
            if left == 0:
                marginal = i
        m = long_side[marginal]
        if qs == qd:
            regime = "balanced"
            price = sells[-1].price
        else:
            regime = "buyers_market" if qs > qd else "sellers_market"
            price = m.price if got[m.id] < m.qty_wh else long_side[marginal + 1].price
        if qs >= qd:
            bad = [o.id for o in buys if o.price < price]
        else:
            bad = [o.id for o in sells if o.price > price]
        if not bad:
            volume = need
            break
        excluded.update(bad)
    out = {}
    for o in orders:
        q = got[o.id]
        if o.id in excluded:
            st = "excluded"
        elif q == 0:
            st = "unfilled"
        elif q == o.qty_wh:
            st = "filled"
        else:
            st = "partial"
        out[o.id] = (q, st)
    return price, volume, regime, out


def welfare(gens: list[Unit], loads: list[Unit], gen_wh: dict, load_wh: dict) -> int:
    """Social welfare in micro-currency * Wh / kWh (kept exact: no division)."""
    return sum(u.price * load_wh[u.id] for u in loads) - sum(g.price * gen_wh[g.id] for g in gens)


def reference_merit(gens: list[Unit], loads: list[Unit]):
    """Merit order one Wh at a time: (price, volume, gen_wh, load_wh, relaxed)."""
    relaxed = (sum(g.qmin_wh for g in gens) > sum(u.qmax_wh for u in loads)
               or sum(u.qmin_wh for u in loads) > sum(g.qmax_wh for g in gens))
    lo = {("g", u.id): (0 if relaxed else u.qmin_wh) for u in gens}
    lo.update({("l", u.id): (0 if relaxed else u.qmin_wh) for u in loads})
    out = dict(lo)
    gen_items = []
    for g in gens:
        gen_items += [(g.price, g.seq, g.id)] * (g.qmax_wh - lo[("g", g.id)])
    load_items = []
    for u in loads:
        load_items += [(-u.price, u.seq, u.id)] * (u.qmax_wh - lo[("l", u.id)])
    gen_items.sort()
    load_items.sort()
    price = None
    surplus = sum(out[("g", g.id)] for g in gens) - sum(out[("l", u.id)] for u in loads)
    while surplus > 0:
        item = load_items.pop(0)
        out[("l", item[2])] += 1
        surplus -= 1
    while surplus < 0:
        item = gen_items.pop(0)
        out[("g", item[2])] += 1
        price = item[0]
        surplus += 1
    while gen_items and load_items and gen_items[0][0] <= -load_items[0][0]:
        g = gen_items.pop(0)
        u = load_items.pop(0)
        out[("g", g[2])] += 1
        out[("l", u[2])] += 1
        price = g[0]
    if price is None:
        offers = [g.price for g in gens if lo[("g", g.id)] > 0]
        price = max(offers) if offers else None
    gen_wh = {g.id: out[("g", g.id)] for g in gens}
    load_wh = {u.id: out[("l", u.id)] for u in loads}
    return price, sum(gen_wh.values()), gen_wh, load_wh, relaxed
