"""v of every prefix of many orderings at once, for a copper-plate market game.

The sampled Owen value walks orderings of all players and reads v(prefix)
after each step. Clearing every prefix with ``merit_order`` from scratch costs
O(n log n) Python work per prefix, so one round of a 10 x 100 game (1,000
orderings of 1,000 players) was about a million clearings (~500 s). Here the
orderings of a round advance together, one step at a time: each keeps its
merit curves as flexible volumes indexed by a global rank computed once
(generators by (price, seq), loads by (price desc, seq): the order in which
``merit_order`` sorts any subset), so an insertion is one array write, and the
cleared volume and emissions of every ordering's prefix follow from prefix
sums in a few numpy passes over a (orderings x units) array.

The cleared volume. Per prefix, clearing-spec step 1 decides ``relaxed``
from four running sums (minimums and maximums of each side); relaxed, the
blocks are the whole qmax and the minimums count as 0, otherwise the blocks
are qmax - qmin and every minimum is dispatched. Let D = sum gen qmin - sum
load qmin (0 when relaxed). Steps 3 and 4 of the spec then pair generator
flexible position y with load flexible position y + D: when D > 0 the loads'
first D Wh absorb the surplus, when D < 0 the generators' first -D Wh supply
the deficit (y starts at F = max(-D, 0) whatever the prices). Let Cg_j be the
flexible generation before generator block j (rank order, blocks of the
prefix only), s_j > 0 its size, p_j its offer and L(p) the flexible load
volume bidding at least p. The greedy matching is in block j exactly while
y + D < L(p_j), so it stops in the first block where L(p_j) - D < Cg_j + s_j,
at max(Cg_j, L(p_j) - D, F); every later block also satisfies that test (L
falls, Cg rises) with a candidate of at least Cg_j >= the stop, and an
earlier block that passes it ends at or before F. Hence the flexible
generation is
    Y = min(total flexible generation,
            min over j with s_j > 0 and L(p_j) - D < Cg_j + s_j of
                max(Cg_j, L(p_j) - D, F))
(if no block stops it, loads never run out first: L(p_j) - D >= Cg_j + s_j
for the last block). Emissions, in mg CO2 (Wh x g/kWh), are the minimums'
plus sum_j intensity_j * clamp(Y - Cg_j, 0, s_j): integers in int64. A
prefix without a load clears nothing (relaxed, or L = 0) and one without a
generator has no block, so both give 0 as ``MarketGame`` defines them.

Two walks compute this. The numpy walk (``numpy_prefix_values``) does it
for all orderings of a batch at once: each step is a few numpy passes over
an (orderings x units) array, O(n^3) work per round of n orderings of n
players. The C walk (hub.allocation._walk, ``native_prefix_values``, used
where built) takes one ordering at a time: an insertion writes one volume and
adds it to running sums, and Y comes from a merge-scan of generator ranks
(ascending offer) against the load volume bidding at least each offer. The
test "L(p_j) - D < Cg_j + s_j" is monotone over the blocks (Cg rises, L
falls), so the blocks that pass it are a suffix; the scan keeps where it
stopped, with the sums below that point, and at the next step moves back
while the block before passes and forward until one passes: as far as the
margin moved, usually a few blocks, not O(n). Both are property-tested equal
to clearing each prefix and to each other (the sampler's results are
bit-identical either way). Without the extension (no compiler at install
time, or CARBON_EDGE_NO_NATIVE set) the numpy walk runs and ``native``
says why once in the log.

Scope: a network with a limited line brings the DC OPF, so those games, and
inputs whose emissions could overflow int64, are not walked here
(``applies`` is False) and the caller reads each prefix through
``MarketGame.value`` as before. Property-tested equal, to the integer, to
clearing each prefix with ``merit_order`` (tests/allocation/test_walk.py),
minimums, relaxation, ties and trivial coalitions included.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from types import ModuleType

import numpy as np

from edge.extensions import HINT, optional
from hub.allocation.market import Market

log = logging.getLogger(__name__)

#: Largest emission sum (mg) the int64 arithmetic may reach.
_INT64_SAFE = 1 << 62
#: Cells of one (orderings x units) work array (int64: 16 MiB).
_CHUNK_CELLS = 1 << 21


class MarketWalk:
    """Global merit ranks of one market, built once; ``prefix_values`` walks batches."""

    def __init__(self, market: Market) -> None:
        gens, loads = market.generators, market.loads
        ng, nl = len(gens), len(loads)
        self.ng, self.nl = ng, nl
        gorder = sorted(range(ng), key=lambda i: (gens[i].price, i))
        lorder = sorted(range(nl), key=lambda i: (-loads[i].price, i))
        gp = np.array([gens[i].price for i in gorder], dtype=np.int64)
        lp_desc = np.array([loads[i].price for i in lorder], dtype=np.int64)
        self.gi = np.array([gens[i].intensity_g_per_kwh for i in gorder], dtype=np.int64)
        # Loads bidding >= p_j are the first cnt[j] load ranks.
        self.cnt = np.searchsorted(-lp_desc, -gp, side="right")
        # Per player (generators, then loads): side, rank on its side, qmin, qmax, intensity.
        ents = market.entities
        self.is_gen = np.arange(ng + nl) < ng
        self.rank = np.zeros(ng + nl, dtype=np.int64)
        self.rank[gorder] = np.arange(ng)
        self.rank[[ng + i for i in lorder]] = np.arange(nl)
        self.qmin = np.array([e.qmin_wh for e in ents], dtype=np.int64)
        self.qmax = np.array([e.qmax_wh for e in ents], dtype=np.int64)
        self.inten = np.array([e.intensity_g_per_kwh if e.side == "gen" else 0 for e in ents],
                              dtype=np.int64)
        self.minimums = bool(self.qmin.any())
        # What the native walk reads, in its argument order (contiguous int64).
        self._model = tuple(np.ascontiguousarray(a, dtype=np.int64) for a in (
            self.is_gen, self.rank, self.qmin, self.qmax, self.gi, self.cnt))

    @staticmethod
    def applies(market: Market) -> bool:
        """True when the walk gives ``MarketGame.value`` exactly (see module doc)."""
        if market.network is not None and market.network.limited():
            return False
        gmax = sum(e.qmax_wh for e in market.generators)
        imax = max((e.intensity_g_per_kwh for e in market.generators), default=0)
        return gmax * max(imax, 1) < _INT64_SAFE

    def prefix_values(self, orders: np.ndarray) -> np.ndarray:
        """v of every prefix: ``out[b, k]`` = v(first k players of ordering b), k = 0..n.

        ``orders`` is (orderings x steps) player indices, distinct within a row
        (a row need not hold every player: its prefixes are still exact). The
        native walk computes it where built (``native()``), else the numpy walk:
        the same integers (tested).
        """
        if native() is not None:
            return self.native_prefix_values(orders)
        return self.numpy_prefix_values(orders)

    def native_prefix_values(self, orders: np.ndarray) -> np.ndarray:
        """``prefix_values`` by hub.allocation._walk: one ordering at a time, one merge-scan a step.

        Raises RuntimeError where the extension is not built, ValueError for a
        player out of range or repeated within a row.
        """
        lib = native()
        if lib is None:
            raise RuntimeError(f"hub.allocation._walk is not built; {HINT}")
        orders = np.ascontiguousarray(orders, dtype=np.int64)
        if orders.ndim != 2:
            raise ValueError("orders: need a 2-d array (orderings x steps)")
        b, steps = orders.shape
        out = np.empty((b, steps + 1), dtype=np.int64)
        lib.prefix_values(orders, b, steps, *self._model, self.ng, self.nl, out)
        return out

    def numpy_prefix_values(self, orders: np.ndarray) -> np.ndarray:
        """``prefix_values`` by numpy passes over all orderings at once (the fallback).

        Refuses what the C walk refuses (ValueError): a negative index would
        read the last player and a repeated one count twice, silently.
        """
        orders = np.asarray(orders, dtype=np.int64)
        if orders.ndim != 2:
            raise ValueError("orders: need a 2-d array (orderings x steps)")
        if orders.size and (orders.min() < 0 or orders.max() >= self.ng + self.nl
                            or (np.diff(np.sort(orders, axis=1), axis=1) == 0).any()):
            raise ValueError("orders: a player out of range or repeated in a row")
        # Chunks of orderings keep each (orderings x units) array near 16 MiB.
        rows_per = max(1, _CHUNK_CELLS // max(self.ng + self.nl, 1))
        if len(orders) <= rows_per:
            return self._numpy_chunk(orders)
        return np.concatenate([self._numpy_chunk(orders[i:i + rows_per])
                               for i in range(0, len(orders), rows_per)])

    def _numpy_chunk(self, orders: np.ndarray) -> np.ndarray:
        """The numpy walk of one chunk of checked orderings."""
        b, steps = orders.shape
        rows = np.arange(b)
        ng, nl = self.ng, self.nl
        gmax = np.zeros((b, ng), dtype=np.int64)
        lmax = np.zeros((b, nl + 1), dtype=np.int64)  # column 0 stays 0
        gflex, lflex = (gmax.copy(), lmax.copy()) if self.minimums else (gmax, lmax)
        # Per row: sums of generator / load minimums and maximums, emissions of the minimums.
        gmin_s, lmin_s, gmax_s, lmax_s, emin = (np.zeros(b, dtype=np.int64) for _ in range(5))
        out = np.zeros((b, steps + 1), dtype=np.int64)
        big = np.iinfo(np.int64).max
        for k in range(steps):
            p = orders[:, k]
            isg = self.is_gen[p]
            rg, pg = rows[isg], p[isg]
            rl, pl = rows[~isg], p[~isg]
            gmax[rg, self.rank[pg]] = self.qmax[pg]
            lmax[rl, self.rank[pl] + 1] = self.qmax[pl]
            if self.minimums:
                gflex[rg, self.rank[pg]] = self.qmax[pg] - self.qmin[pg]
                lflex[rl, self.rank[pl] + 1] = self.qmax[pl] - self.qmin[pl]
                gmin_s[rg] += self.qmin[pg]
                gmax_s[rg] += self.qmax[pg]
                emin[rg] += self.qmin[pg] * self.inten[pg]
                lmin_s[rl] += self.qmin[pl]
                lmax_s[rl] += self.qmax[pl]
                relaxed = (gmin_s > lmax_s) | (lmin_s > gmax_s)
                keep = ~relaxed
                g = np.where(relaxed[:, None], gmax, gflex)
                ld = np.where(relaxed[:, None], lmax, lflex)
                shift = np.where(keep, gmin_s - lmin_s, 0)  # load position - gen position
                floor = np.where(keep, np.maximum(lmin_s - gmin_s, 0), 0)  # forced supply
                base = np.where(keep, emin, 0)
            else:
                g, ld = gmax, lmax
                shift = floor = base = np.zeros(b, dtype=np.int64)
            end = np.cumsum(g, axis=1)
            start = end - g
            lcum = np.cumsum(ld, axis=1)  # lcum[:, c] = volume of the first c load ranks
            # Generator position y meets load position y + shift, which bids >= p_j
            # while y < L(p_j) - shift: the walk stops in the first block it fails.
            reach = lcum[:, self.cnt] - shift[:, None]
            stop = np.where((reach < end) & (g > 0),
                            np.maximum(np.maximum(reach, start), floor[:, None]), big)
            y = np.minimum(stop.min(axis=1, initial=big), end[:, -1] if ng else 0)
            used = np.minimum(np.maximum(y[:, None] - start, 0), g)
            out[:, k + 1] = base + used @ self.gi
        return out


@lru_cache(maxsize=1)
def native() -> ModuleType | None:
    """hub.allocation._walk (built at install time), or None, said once in the log.

    Without it (no compiler at install time, or CARBON_EDGE_NO_NATIVE set) the
    numpy walk gives the same values, about 30 times slower (bench/bench_owen.py).
    """
    return optional("hub.allocation._walk", "native prefix walk", "walking with numpy", log)
