"""The Owen value: exact enumeration and a stratified, unbiased sampler.

Exact (P1 formula): for entity i in union k,
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

Variance reduction: more samples where the variance is, where they are
cheap. In the 10 x 100 benchmark game the entities with small values (gas
units near the margin, loads bidding near it) owe most of their variance to
the first union positions r: with few unions present the merit curve is
coarse and the marginal unit jumps, with many it hardly moves. Those strata
are also the cheapest to sample: an ordering cut after its first d unions
needs d n_k steps, and for a market game a walk of the sub-market of those d
unions (arrays d/m as wide). So every round adds, to its main design, J_d
designs cut after d unions (the same construction, walked to depth d only):
each adds one sample to every cell with r < d. All samples of a cell have the
cell's exact conditional law and every count is fixed by the design, so the
post-stratified mean stays unbiased and rounds stay independent and
identically distributed (the SE rule above is unchanged). The counts follow
the optimum (Neyman) allocation with costs, n_r proportional to
sigma_r / sqrt(c_r) (Cochran 1977, 5.5; for the Shapley value Castro et al.
2017): a sample at position r costs about c_r ~ r + 1 (steps: the native
walk's step costs about the same at any width; steps times width, 2r + 1,
with the numpy walk), and the spread falls about as sigma_r ~ 1 / sqrt(r + 1),
which gives n_r = round(m / (r + 1)) samples per cell and round
(``depth_designs``; within rounding of the optimum for 2r + 1 too).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from hub.allocation.game import Game, Memo, Number, Structure, subset_masks
from hub.allocation.market import Market, MarketGame
from hub.allocation.walk import MarketWalk

#: Above this many coalitions the exact sum gives way to the sampler.
EXACT_LIMIT = 1 << 16
#: An entity whose estimate is within this of v(N)/n (relative to |v(N)|) has a
#: value no sampler can tell from the even share; the relative-SE stop leaves it out.
EVEN_SHARE_TOL = 1e-6


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
    #: per-entity relative SE, se_i / |value_i| (0 when both are 0; None when exact)
    rel_se: tuple[float, ...] | None = None
    #: entities within EVEN_SHARE_TOL of v(N)/n: left out of the relative-SE stop rule
    excluded: tuple[str, ...] = ()
    #: share of the other entities whose relative SE meets the stop rule's target
    share_within_target: float | None = None
    #: (depth d, J_d): designs cut after d unions added to every round (module docstring)
    extra_designs: tuple[tuple[int, int], ...] = ()

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
    """Exact Owen value by the P1 double sum (exact arithmetic)."""
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


def _orderings(st: Structure, rng: random.Random, depth: int,
               ) -> list[tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]]:
    """One design: per union shift, the unions walked and (players, r, t) per step.

    One random union order and one random order per union; shift su starts
    the union order at its su-th union and keeps the first ``depth`` unions
    (all m: the main design), and each of the max n_k inner shifts rotates
    every union's order. Every union is once at every position r < depth and
    every member at every position t in its union (several times in a union
    smaller than the largest). Returns, per su, the sorted union indices and
    arrays of shape (max n_k, steps): player, r and t of every step.
    """
    m = len(st.unions)
    sizes = [len(u) for u in st.unions]
    nmax = max(sizes)
    pi = list(range(m))
    rng.shuffle(pi)
    sigma = [np.array(u, dtype=np.int64) for u in st.unions]
    for s in sigma:
        rng.shuffle(s)
    sw = np.arange(nmax)[:, None]
    out = []
    for su in range(m):
        order = [pi[(j + su) % m] for j in range(depth)]
        players, pos_r, pos_t = [], [], []
        for r, k in enumerate(order):
            t = np.arange(sizes[k])
            players.append(sigma[k][(t + sw) % sizes[k]])
            pos_r.append(np.full((nmax, sizes[k]), r, dtype=np.int64))
            pos_t.append(np.broadcast_to(t, (nmax, sizes[k])))
        out.append((tuple(sorted(order)), np.hstack(players), np.hstack(pos_r),
                    np.hstack(pos_t)))
    return out


def depth_designs(m: int) -> dict[int, int]:
    """J_d, the designs cut after d unions added to every round (module docstring).

    Stratum r gets n_r = round(m / (r + 1)) samples per cell and round (the
    main design gives every stratum one); a design of depth d adds one to
    every stratum r < d, so J_d = n_(d-1) - n_d.
    """
    n = [max(1, math.floor(m / (r + 1) + 0.5)) for r in range(m)] + [1]
    return {d: n[d - 1] - n[d] for d in range(1, m) if n[d - 1] > n[d]}


def design_walk(game: MarketGame, unions: tuple[int, ...]) -> tuple[MarketWalk, np.ndarray]:
    """The walk for orderings over some unions, and each player's index in it (cached).

    All unions: the market's own walk. Fewer: the walk of the sub-market of
    those unions. v of a coalition inside them depends only on their entities,
    and the sub-market keeps their relative order, hence the merit order's
    tie-breaks: the values are the same integers (tested against the memo).
    Players outside the unions map to -1.
    """
    walks = game.__dict__.setdefault("_sub_walks", {})
    got = walks.get(unions)
    if got is None:
        market = game.market
        st = game.structure
        members = sorted(i for k in unions for i in st.unions[k])
        sub = market
        if len(members) < st.n:
            keep = set(members)
            ng = len(market.generators)
            sub = Market(tuple(e for i, e in enumerate(market.generators) if i in keep),
                         tuple(e for i, e in enumerate(market.loads) if i + ng in keep),
                         None, market.interval_s, tuple(st.union_names[k] for k in unions))
        local = np.full(st.n, -1, dtype=np.int64)
        local[members] = np.arange(len(members))
        got = walks[unions] = (MarketWalk(sub), local)
    return got


def _walk_values(memo: Memo, players: np.ndarray, unions: tuple[int, ...]) -> np.ndarray:
    """v of every prefix of every ordering (orderings x steps+1), as floats.

    A market game without line limits walks its orderings with
    hub.allocation.walk (C where built, else numpy; minimums and relaxation
    included, tested equal to clearing each prefix), on the sub-market of the
    ``unions`` the orderings hold. Any other game reads each prefix through
    the memo, in the walk's order. The walk bypasses the memo but counts its
    prefix values as evaluations.
    """
    game = memo.game
    if isinstance(game, MarketGame) and MarketWalk.applies(game.market):
        memo.evaluations += players.size
        walk, local = design_walk(game, unions)
        return walk.prefix_values(local[players]).astype(float)
    out = []
    for row in players.tolist():
        mask = 0
        vals = [0]
        for i in row:
            mask |= 1 << i
            vals.append(memo.value(mask))
        out.append(vals)
    return np.array([[float(v) for v in vals] for vals in out])


Design = dict[tuple[int, ...], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]


def round_designs(st: Structure, rng: random.Random, extra: dict[int, int] | None = None,
                  ) -> Design:
    """One round's orderings: (players, r, t) arrays grouped by the unions they hold.

    The main design, then ``extra[d]`` designs of depth d (in increasing d);
    orderings over the same unions are grouped so that they are walked together.
    """
    m = len(st.unions)
    groups: Design = {}
    for depth in [m] + [d for d in sorted(extra or {}) for _ in range(extra[d])]:
        for key, players, pos_r, pos_t in _orderings(st, rng, depth):
            groups.setdefault(key, []).append((players, pos_r, pos_t))
    return groups


def _round(memo: Memo, rng: random.Random, extra: dict[int, int] | None = None) -> np.ndarray:
    """One stratified round: the post-stratified Owen estimate of every player.

    Each cell's mean is its samples' sum over its count (both fixed by the design).
    """
    st = memo.structure
    m = len(st.unions)
    sizes = [len(u) for u in st.unions]
    nmax = max(sizes)
    cells = m * nmax * st.n
    cell_parts, diff_parts = [], []
    for key, parts in round_designs(st, rng, extra).items():  # insertion order: fixed
        players = np.vstack([p for p, _, _ in parts])
        diff_parts.append(np.diff(_walk_values(memo, players, key), axis=1).ravel())
        cell_parts.append(((players * m + np.vstack([r for _, r, _ in parts])) * nmax
                           + np.vstack([t for _, _, t in parts])).ravel())
    cell = np.concatenate(cell_parts)
    # bincount adds in index order: every cell sums its samples in walk order (the sums
    # are of integer-valued floats, exact below 2^53)
    sums = np.bincount(cell, weights=np.concatenate(diff_parts), minlength=cells)
    counts = np.bincount(cell, minlength=cells)
    sums = sums.reshape(st.n, m, nmax)
    counts = counts.reshape(st.n, m, nmax)
    est = np.zeros(st.n)
    for k, members in enumerate(st.unions):
        idx = list(members)
        nk = sizes[k]
        est[idx] = np.mean(sums[idx, :, :nk] / counts[idx, :, :nk], axis=(1, 2))
    return est


def _round_rng(seed: int, k: int) -> random.Random:
    """Round k's own generator: rounds are independent of where and in which order they run."""
    return random.Random(f"owen-round/{seed}/{k}")


def _round_task(game: Game, seed: int, k: int, designs: dict[int, int] | None = None,
                ) -> tuple[np.ndarray, int]:
    """One round on a worker (its own memo): the estimate and the values it read."""
    memo = Memo(game)
    return _round(memo, _round_rng(seed, k), designs), memo.evaluations


def relative_se(values: np.ndarray, se: np.ndarray, grand: float,
                ) -> tuple[np.ndarray, np.ndarray]:
    """se_i / |value_i| per entity, and which entities sit at the even share v(N)/n.

    An entity known exactly (se 0) has relative SE 0, even at value 0; one
    with value 0 and se > 0 has an infinite relative SE.
    """
    n = len(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(se == 0, 0.0, se / np.abs(values))
    even = np.abs(values - grand / n) <= EVEN_SHARE_TOL * max(abs(grand), 1.0)
    return rel, even


def owen_sampled(
    game: Game,
    rounds: int = 8,
    seed: int = 0,
    target_se: float | None = None,
    max_rounds: int = 1000,
    target_rel_se: float | None = None,
    coverage: float = 0.95,
    client: object | None = None,
    extra_designs: dict[int, int] | None = None,
) -> OwenResult:
    """Stratified sampling estimate with standard errors (see the module docstring).

    Stop rules (rounds are added, at least ``rounds``, at most ``max_rounds``):
    ``target_se`` until every SE is at most that absolute value;
    ``target_rel_se`` until at least ``coverage`` of the entities have
    se_i / |value_i| <= target_rel_se, entities within EVEN_SHARE_TOL of
    v(N)/n left out (and listed in ``excluded``). A max over |v(N)| hides the
    entities with small values, whose estimates can be mostly noise; the
    per-entity rule does not. A fixed number of rounds keeps the estimate
    strictly unbiased; a data-dependent stop biases it far below the SE.

    ``client`` (a dask.distributed Client) computes rounds on its workers, a
    batch of one per worker at a time. Round k always uses its own generator
    (seeded by ``seed`` and k) and the stop rule is applied after each round
    in order, so the result is identical to the serial run for the same seed.

    ``extra_designs`` maps a depth d (1..m-1) to J_d, the designs cut after d
    unions added to every round (None: ``depth_designs``; {}: the main design
    alone).
    """
    if rounds < 2:
        raise ValueError("rounds: at least 2 are needed to estimate a standard error")
    if target_rel_se is not None and not (target_rel_se > 0 and 0 < coverage <= 1):
        raise ValueError("target_rel_se must be > 0 and coverage in (0, 1]")
    memo = game if isinstance(game, Memo) else Memo(game)
    st = memo.structure
    m = len(st.unions)
    designs = depth_designs(m) if extra_designs is None else dict(extra_designs)
    if any(not 1 <= d < m or j < 0 for d, j in designs.items()):
        raise ValueError(f"extra_designs: depths in 1..{m - 1}, counts >= 0")
    grand_value = memo.value(st.grand)  # read once: the stop rule and the report share it
    grand = float(grand_value)
    ests: list[np.ndarray] = []
    evaluations = 0
    batches = _batches(memo, seed, client, designs)
    while True:
        est, ev = next(batches)
        # With unequal unions or the added designs the strata are sampled unevenly, so a
        # round need not sum to v(N). Each player takes an equal share of the gap: the gap
        # has mean 0 and the share is fixed in advance, so the estimate stays unbiased and
        # every round is efficient (the allocation shares out exactly v(N)).
        ests.append(est + (grand - float(est.sum())) / st.n)
        evaluations += ev
        b = len(ests)
        if b < rounds:
            continue
        arr = np.array(ests)
        se = arr.std(axis=0, ddof=1) / math.sqrt(b)
        stop = b >= max_rounds
        if target_se is not None:
            stop = stop or float(se.max()) <= target_se
        if target_rel_se is not None:
            rel, even = relative_se(arr.mean(axis=0), se, grand)
            share = float(np.mean(rel[~even] <= target_rel_se)) if (~even).any() else 1.0
            stop = stop or share >= coverage
        if target_se is None and target_rel_se is None:
            stop = True
        if stop:
            break
    batches.close()
    mean = arr.mean(axis=0)
    rel, even = relative_se(mean, se, grand)
    share = float(np.mean(rel[~even] <= target_rel_se)) if target_rel_se and (~even).any() else (
        None if target_rel_se is None else 1.0)
    return OwenResult(
        st,
        tuple(float(x) for x in mean),
        "sampled",
        grand_value,
        se=tuple(float(x) for x in se),
        rounds=b,
        evaluations=evaluations if client is not None else memo.evaluations,
        rel_se=tuple(float(x) for x in rel),
        excluded=tuple(p for p, e in zip(st.players, even.tolist(), strict=True) if e),
        share_within_target=share,
        extra_designs=tuple(sorted(designs.items())),
    )


def _batches(memo: Memo, seed: int, client: object | None, designs: dict[int, int]):
    """Round estimates in round order: in-process, or a batch per worker at a time."""
    if client is None:
        k = 0
        while True:
            yield _round(memo, _round_rng(seed, k), designs), 0
            k += 1
    from hub.cluster import worker_count

    game = client.scatter(memo.game, broadcast=True)  # type: ignore[attr-defined]
    width = worker_count(client)
    k = 0
    pending = [client.submit(_round_task, game, seed, j, designs, pure=False)  # type: ignore[attr-defined]
               for j in range(width)]
    try:
        while True:
            # keep every worker busy: submit the next batch before reading this one
            nxt = [client.submit(_round_task, game, seed, k + width + j,  # type: ignore[attr-defined]
                                 designs, pure=False) for j in range(width)]
            for fut in pending:
                yield fut.result()
            pending = nxt
            k += width
    finally:
        for fut in pending:
            fut.cancel()


def owen(
    game: Game,
    method: str = "auto",
    rounds: int = 8,
    seed: int = 0,
    target_se: float | None = None,
    exact_limit: int = EXACT_LIMIT,
    target_rel_se: float | None = None,
    client: object | None = None,
) -> OwenResult:
    """Exact when the enumeration reads at most ``exact_limit`` coalitions, else sampled."""
    if method not in ("auto", "exact", "sampled"):
        raise ValueError(f"method: must be auto, exact or sampled, got {method!r}")
    if method == "auto":
        method = "exact" if exact_cost(game.structure) <= exact_limit else "sampled"
    if method == "exact":
        return owen_exact(game)
    return owen_sampled(game, rounds=rounds, seed=seed, target_se=target_se,
                        target_rel_se=target_rel_se, client=client)


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

