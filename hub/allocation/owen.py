"""The Owen value: exact enumeration and a stratified, unbiased sampler.

Exact (SEEDS P1 formula): for entity i in union k,
  phi_i = sum_{R subset M\\{k}} sum_{T subset Z_k\\{i}} w_m(|R|) w_{n_k}(|T|)
          [v(Q_R + T + i) - v(Q_R + T)],   w_n(s) = s!(n-s-1)!/n!.
Only coalitions "whole unions plus part of one union" are read, so the cost is
sum_k 2^(m-1) 2^(n_k) values rather than 2^n. Differences are grouped by |T|
before weighting, so the sums stay integers and one Fraction product per
(R, |T|) keeps the result exact: efficiency holds to the last digit.

Sampled: the Owen value is the mean marginal contribution over orderings in
which the unions come in a uniformly random order and the members of each
union come together, in a uniformly random order. Grouped by i's union
position r and within-union position t (strata), every stratum has weight
1/(m n_k) and, given (r, t), the unions before i are a uniform r-subset and
the members before i a uniform t-subset. One round is the set of orderings
made from one random union order and one random order per union by all
cyclic shifts (m times max n_k orderings): every union takes every position
and every member every within-union position, so every stratum is sampled
and each sample has its stratum's exact conditional law. The round's
post-stratified mean is therefore unbiased; rounds are independent, and the
standard error is the spread of the round estimates over sqrt(rounds). A walk
along one ordering gives every player one sample for n+1 values of v.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from hub.allocation.game import Game, Memo, Number, Structure, subset_masks
from hub.allocation.market import MarketGame
from hub.allocation.walk import MarketWalk

#: Above this many coalitions the exact sum gives way to the sampler.
EXACT_LIMIT = 1 << 16


@dataclass(frozen=True)
class OwenResult:
    """Owen values in the game's own unit, with how they were obtained.

    ``values`` are Fractions when exact and floats when sampled; ``se`` is the
    standard error of each sampled value (None when exact).
    """

    structure: Structure
    values: tuple[Number | float, ...]
    method: str
    grand_value: Number
    se: tuple[float, ...] | None = None
    rounds: int = 0
    evaluations: int = 0

    def union_totals(self) -> list[Number | float]:
        return [sum((self.values[i] for i in u), 0) for u in self.structure.unions]

    def by_player(self) -> dict[str, Number | float]:
        return dict(zip(self.structure.players, self.values, strict=True))


def weight(n: int, s: int) -> Fraction:
    """Shapley weight s!(n-s-1)!/n! of a coalition of size s before a newcomer, n players."""
    return Fraction(math.factorial(s) * math.factorial(n - s - 1), math.factorial(n))


def exact_cost(structure: Structure) -> int:
    """Number of coalition values the exact enumeration reads (before memo hits)."""
    m = len(structure.unions)
    return sum((1 << (m - 1)) * (1 << len(u)) for u in structure.unions)


def owen_exact(game: Game) -> OwenResult:
    """Exact Owen value by the SEEDS P1 double sum (exact arithmetic)."""
    memo = game if isinstance(game, Memo) else Memo(game)
    st = memo.structure
    masks = st.union_masks()
    m = len(masks)
    wu = [weight(m, r) for r in range(m)]
    phi: list[Number] = [0] * st.n
    for k, members in enumerate(st.unions):
        nk = len(members)
        wt = [weight(nk, t) for t in range(nk)]
        others = [masks[j] for j in range(m) if j != k]
        subs = subset_masks(members)
        sizes = [bin(t).count("1") for t in range(len(subs))]
        acc = [[Fraction(0)] * nk for _ in range(nk)]  # acc[a][t] over R, weighted by w_m
        for rbits in range(1 << (m - 1)):
            q = 0
            for j, um in enumerate(others):
                if rbits >> j & 1:
                    q |= um
            vals = [memo.value(q | s) for s in subs]
            r = bin(rbits).count("1")
            for a in range(nk):
                bit = 1 << a
                by_size: list[Number] = [0] * nk
                for t in range(len(subs)):
                    if not t & bit:
                        by_size[sizes[t]] += vals[t | bit] - vals[t]
                for t in range(nk):
                    if by_size[t]:
                        acc[a][t] += wu[r] * by_size[t]
        for a, i in enumerate(members):
            total = sum((wt[t] * acc[a][t] for t in range(nk)), Fraction(0))
            phi[i] = total.numerator if total.denominator == 1 else total
    return OwenResult(
        st, tuple(phi), "exact", memo.value(st.grand), evaluations=memo.evaluations
    )


def _orderings(st: Structure, rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One round's orderings (m x max n_k rows of player indices) and every step's stratum.

    Returns (players, union position r, position in union t), each of shape
    (orderings, n), rows in the order the round walks them.
    """
    m = len(st.unions)
    sizes = [len(u) for u in st.unions]
    nmax = max(sizes)
    pi = list(range(m))
    rng.shuffle(pi)
    sigma = [list(u) for u in st.unions]
    for s in sigma:
        rng.shuffle(s)
    players, pos_r, pos_t = [], [], []
    for su in range(m):
        order = [pi[(j + su) % m] for j in range(m)]
        for sw in range(nmax):
            row, rr, tt = [], [], []
            for r, k in enumerate(order):
                nk = sizes[k]
                shift = sw % nk
                for t in range(nk):
                    row.append(sigma[k][(t + shift) % nk])
                    rr.append(r)
                    tt.append(t)
            players.append(row)
            pos_r.append(rr)
            pos_t.append(tt)
    return np.array(players), np.array(pos_r), np.array(pos_t)


def _walk_values(memo: Memo, players: np.ndarray) -> np.ndarray:
    """v of every prefix of every ordering (orderings x n+1), exact integers or Fractions.

    A market game without line limits walks all orderings at once
    (hub.allocation.walk, minimums and relaxation included, tested equal to
    clearing each prefix: about 200 times faster at 1,000 players); any
    other game reads each prefix through the memo, in the walk's order. The
    walk bypasses the memo but counts its prefix values as evaluations.
    """
    game = memo.game
    if isinstance(game, MarketGame) and MarketWalk.applies(game.market):
        walk = game.__dict__.get("_walk")
        if walk is None:
            walk = game.__dict__["_walk"] = MarketWalk(game.market)
        memo.evaluations += players.size
        return walk.prefix_values(players)
    out = []
    for row in players.tolist():
        mask = 0
        vals = [0]
        for i in row:
            mask |= 1 << i
            vals.append(memo.value(mask))
        out.append(vals)
    return np.array([[float(v) for v in vals] for vals in out])


def _round(memo: Memo, rng: random.Random) -> np.ndarray:
    """One stratified round: the post-stratified Owen estimate of every player."""
    st = memo.structure
    m = len(st.unions)
    sizes = [len(u) for u in st.unions]
    nmax = max(sizes)
    players, pos_r, pos_t = _orderings(st, rng)
    vals = _walk_values(memo, players).astype(float)
    sums = np.zeros((st.n, m, nmax))
    counts = np.zeros((st.n, m, nmax))
    cells = (players.ravel(), pos_r.ravel(), pos_t.ravel())
    # np.add.at adds in index order, so every cell sums its samples in walk order.
    np.add.at(sums, cells, np.diff(vals, axis=1).ravel())
    np.add.at(counts, cells, 1)
    est = np.zeros(st.n)
    for k, members in enumerate(st.unions):
        nk = sizes[k]
        for i in members:
            c = counts[i, :, :nk]
            est[i] = float(np.mean(sums[i, :, :nk] / c))
    return est


def owen_sampled(
    game: Game,
    rounds: int = 8,
    seed: int = 0,
    target_se: float | None = None,
    max_rounds: int = 1000,
) -> OwenResult:
    """Stratified sampling estimate with standard errors (see the module docstring).

    With ``target_se`` the sampler keeps adding rounds (at least ``rounds``,
    at most ``max_rounds``) until every player's standard error is at most
    ``target_se``; a fixed number of rounds keeps the estimate strictly
    unbiased, a data-dependent stop biases it by an amount far below the SE.
    """
    if rounds < 2:
        raise ValueError("rounds: at least 2 are needed to estimate a standard error")
    memo = game if isinstance(game, Memo) else Memo(game)
    rng = random.Random(seed)
    ests: list[np.ndarray] = []
    while True:
        ests.append(_round(memo, rng))
        b = len(ests)
        if b < rounds:
            continue
        arr = np.array(ests)
        se = arr.std(axis=0, ddof=1) / math.sqrt(b)
        if target_se is None or float(se.max()) <= target_se or b >= max_rounds:
            break
    st = memo.structure
    mean = arr.mean(axis=0)
    return OwenResult(
        st,
        tuple(float(x) for x in mean),
        "sampled",
        memo.value(st.grand),
        se=tuple(float(x) for x in se),
        rounds=b,
        evaluations=memo.evaluations,
    )


def owen(
    game: Game,
    method: str = "auto",
    rounds: int = 8,
    seed: int = 0,
    target_se: float | None = None,
    exact_limit: int = EXACT_LIMIT,
) -> OwenResult:
    """Exact when the enumeration reads at most ``exact_limit`` coalitions, else sampled."""
    if method not in ("auto", "exact", "sampled"):
        raise ValueError(f"method: must be auto, exact or sampled, got {method!r}")
    if method == "auto":
        method = "exact" if exact_cost(game.structure) <= exact_limit else "sampled"
    if method == "exact":
        return owen_exact(game)
    return owen_sampled(game, rounds=rounds, seed=seed, target_se=target_se)


def shapley_of_unions(game: Game) -> list[Fraction]:
    """Shapley value of each union in the quotient game v_Q(R) = v(union of R).

    The Owen value sums to exactly this over each union; the reports print it
    so a reader can see how the regions share the total.
    """
    st = game.structure
    masks = st.union_masks()
    m = len(masks)
    out = [Fraction(0)] * m
    for k in range(m):
        others = [masks[j] for j in range(m) if j != k]
        for rbits in range(1 << (m - 1)):
            q = 0
            for j, um in enumerate(others):
                if rbits >> j & 1:
                    q |= um
            r = bin(rbits).count("1")
            out[k] += weight(m, r) * (game.value(q | masks[k]) - game.value(q))
    return out

