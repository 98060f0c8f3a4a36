"""Privacy-preserving outsourcing of the tracing solve (P3), with checks.

The owner of the network does not hand A_u and its right-hand sides to a
computing provider. For every request it draws a fresh secret and sends

    A' = M1 A M2,   B' = M1 (B + A R)

where M1 = D1 P1 and M2 = P2 D2 (random permutations P, random diagonals D
with random signs and magnitudes log-uniform over 2^-4..2^4) and R is a
random dense blinding matrix with an independent column per right-hand side.
The provider solves A' Y = B'; the owner recovers X = M2 Y - R, since
A M2 Y = B + A R.

Why the blinding (and not the paper's masks): with a shared row mask alone,
every row of B' is a random multiple of the same row of B, so the ratio of
the columns [P_G, P_G E_G] in a generator's row is E_G exactly, and |P_G| is
visible to within the diagonal's range. Adding A R, with R's columns drawn
independently and scaled to BLIND_SCALE times the largest entry of their
column, makes each column of B' a dense vector dominated by noise that the
provider cannot separate from B: for any guess of B, some R explains B'
exactly (the system is underdetermined by n unknowns). Ratios, products and
linear combinations of B' columns mix independent blinds, so they carry no
usable signal (attacker tests in tests/carbon/test_outsourcing.py). The
transpose solve of a trace travels in the same block system, with its own
column and blind. The hiding is statistical, not perfect: a provider sees
each generator's signal at a signal-to-blind ratio of about 1/BLIND_SCALE
per request (docs/carbon-flow.md, threat model).

What is not hidden: the sparsity pattern of A' is A's up to relabelling (the
shape of the network: which buses connect), because the masks keep A'
exactly as sparse as A so that the provider's sparse LU costs what the
owner's would; and products of A entries around a closed loop of a meshed
network are invariant under diagonal scaling, so the provider can compute
them. Denser masks P D (I + L) with random sparse triangular L would blur the
shape, but we measured them to destroy the sparsity that makes 10k-bus cases
fast (about 10x the non-zeros and 1000x the solve time on case1354pegase),
so they are not offered.

Every answer is checked by its residual in the system the provider was sent,
row by row (one product with A'): it is accepted when
|A' y - b'|_i <= tol_c (|A'| |y| + |b'|)_i + tol_n S for every row i, with S
the largest (|A'| |y| + |b'|)_i. (The owner's residual A x - B equals
M1^-1 (A' y - B') exactly, so this is the same test in the provider's
coordinates, where honest rounding is measured against the blinded
magnitudes it actually worked with.) The componentwise part
catches a provider that changes one small entry by a relative 1e-7, which a
normwise check would miss; the normwise floor keeps honest rounding in rows
whose true value is zero from failing. With the double
check, two providers get independently masked copies and must agree; when
they do not, a third provider is asked and then the owner solves it itself.
A provider whose answer fails the check, or disagrees with the accepted one,
gets a strike; on its second strike it is blacklisted for the next three
cycles (one cycle = one solve request) and then starts again with none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

#: Residual tolerances, componentwise and normwise. Honest sparse LU on masked
#: tracing matrices up to 25k nodes gave at most 5e-11 and 2e-16 (measured).
COMPONENT_TOL = 1e-8
#: Blind column j has entries of magnitude about BLIND_SCALE * max|B[:, j]|.
#: Larger hides better and costs digits: the recovered X carries an error of
#: about eps * cond(A) * BLIND_SCALE relative to max|B| (1e-9 relative is met
#: on the tracing matrices tested).
BLIND_SCALE = 100.0
#: Diagonal mask magnitudes are 2^u, u uniform in [-SCALE_BITS, SCALE_BITS].
SCALE_BITS = 4.0
NORM_TOL = 1e-12
#: Two accepted answers agree when they differ by at most this, relative to the largest entry.
AGREE_TOL = 1e-8
STRIKES_TO_BAN = 2
BAN_CYCLES = 3


class Provider(Protocol):
    """A computing provider: solves a (masked) sparse system it is sent."""

    name: str

    def solve(self, a: sp.csc_matrix, b: np.ndarray) -> np.ndarray: ...


@dataclass
class HonestProvider:
    """Solves what it is sent with a sparse LU."""

    name: str = "honest"
    calls: int = 0

    def solve(self, a: sp.csc_matrix, b: np.ndarray) -> np.ndarray:
        self.calls += 1
        return splu(sp.csc_matrix(a)).solve(np.asarray(b, dtype=float))


@dataclass
class PerturbingProvider(HonestProvider):
    """A cheat for fault-injection tests: solves honestly, then changes one entry.

    ``rel`` is the relative change of entry ``entry`` (of the flattened answer);
    ``honest_calls`` answers are left honest first, to cheat only later.
    """

    name: str = "perturbing"
    entry: int = 0
    rel: float = 1e-6
    honest_calls: int = 0

    def solve(self, a: sp.csc_matrix, b: np.ndarray) -> np.ndarray:
        y = super().solve(a, b)
        if self.calls > self.honest_calls:
            k = np.unravel_index(self.entry % y.size, y.shape)
            y[k] = y[k] * (1.0 + self.rel) + self.rel
        return y


@dataclass
class LazyProvider:
    """A cheat for fault-injection tests: returns random numbers without solving."""

    name: str = "lazy"
    seed: int = 0
    calls: int = 0

    def solve(self, a: sp.csc_matrix, b: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.random.default_rng(self.seed + self.calls).random(np.shape(b))


@dataclass(frozen=True)
class Mask:
    """One request's secret: the masks M1, M2 and the blind R (one column per RHS)."""

    m1: sp.csr_matrix
    m2: sp.csr_matrix
    blind: np.ndarray


def _signed_scale(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.exp2(rng.uniform(-SCALE_BITS, SCALE_BITS, n)) * rng.choice([-1.0, 1.0], n)


def make_mask(b: np.ndarray, rng: np.random.Generator) -> Mask:
    """Fresh secret for a system with right-hand side(s) ``b`` (n, or n x k).

    Every column of the blind is drawn independently, with its own scale, so
    no column of B' shares a factor with another.
    """
    b = np.asarray(b, dtype=float)
    n = b.shape[0]
    p1 = sp.csr_matrix((np.ones(n), (np.arange(n), rng.permutation(n))), shape=(n, n))
    p2 = sp.csr_matrix((np.ones(n), (np.arange(n), rng.permutation(n))), shape=(n, n))
    m1 = sp.diags(_signed_scale(n, rng)) @ p1
    m2 = p2 @ sp.diags(_signed_scale(n, rng))
    cols = b.reshape(n, -1)
    big = np.max(np.abs(cols), axis=0, initial=0.0)
    scale = BLIND_SCALE * np.where(big > 0, big, 1.0)
    blind = rng.standard_normal(cols.shape) * scale
    return Mask(m1=m1.tocsr(), m2=m2.tocsr(), blind=blind.reshape(b.shape))


def mask_system(a: sp.spmatrix, b: np.ndarray, mask: Mask) -> tuple[sp.csc_matrix, np.ndarray]:
    """A' = M1 A M2 and B' = M1 (B + A R): what a provider sees."""
    b = np.asarray(b, dtype=float)
    return (mask.m1 @ a @ mask.m2).tocsc(), mask.m1 @ (b + a @ mask.blind)


def unmask(y: np.ndarray, mask: Mask) -> np.ndarray:
    """X = M2 Y - R."""
    return mask.m2 @ y - mask.blind


def residual_ratio(
    a: sp.spmatrix, x: np.ndarray, b: np.ndarray,
    tol_c: float = COMPONENT_TOL, tol_n: float = NORM_TOL,
) -> float:
    """max_i |Ax - b|_i / (tol_c (|A||x| + |b|)_i + tol_n S): the answer passes when <= 1.

    NaN or infinite answers give an infinite ratio; an all-zero system gives 0.
    """
    if not np.all(np.isfinite(x)):
        return float("inf")
    r = np.abs(a @ x - b)
    scale = abs(a) @ np.abs(x) + np.abs(b)
    bound = tol_c * scale + tol_n * float(np.max(scale, initial=0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, r / bound, np.where(r > 0, np.inf, 0.0))
    return float(np.max(ratio, initial=0.0))


def _agree(x1: np.ndarray, x2: np.ndarray, tol: float) -> bool:
    big = max(float(np.max(np.abs(x1), initial=0.0)), np.finfo(float).tiny)
    return float(np.max(np.abs(x1 - x2), initial=0.0)) <= tol * big


@dataclass(frozen=True)
class Answer:
    """What became of one provider's answer in one cycle."""

    provider: str
    verdict: str  # accepted | wrong | disagreed | no_answer
    residual_ratio: float | None = None  # <= 1 passes the check
    detail: str = ""


@dataclass(frozen=True)
class Audit:
    """One cycle: who answered what, and who decided the result."""

    cycle: int
    decided_by: str  # providers | third_provider | owner
    answers: tuple[Answer, ...]
    blacklisted: tuple[str, ...]


@dataclass
class OutsourcedSolver:
    """A LinearSolver that delegates to masked providers and trusts none of them."""

    providers: list[Provider]
    double_check: bool = True
    agree_tol: float = AGREE_TOL
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    cycle: int = 0
    strikes: dict[str, int] = field(default_factory=dict)
    banned_until: dict[str, int] = field(default_factory=dict)
    audits: list[Audit] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique, got {names}")

    def is_blacklisted(self, name: str, cycle: int | None = None) -> bool:
        c = self.cycle if cycle is None else cycle
        return c <= self.banned_until.get(name, 0)

    def _strike(self, name: str) -> None:
        self.strikes[name] = self.strikes.get(name, 0) + 1
        if self.strikes[name] >= STRIKES_TO_BAN:
            self.banned_until[name] = self.cycle + BAN_CYCLES
            self.strikes[name] = 0

    def _pool(self) -> list[Provider]:
        ok = [p for p in self.providers if not self.is_blacklisted(p.name)]
        if not ok:
            return ok
        k = self.cycle % len(ok)  # rotate, so the work (and the trust) is spread
        return ok[k:] + ok[:k]

    def _ask(self, p: Provider, a, b) -> tuple[Answer, np.ndarray | None]:
        mask = make_mask(b, self.rng)
        a2, b2 = mask_system(a, b, mask)
        try:
            y = np.asarray(p.solve(a2, b2), dtype=float)
            if y.shape != b2.shape:
                return Answer(p.name, "no_answer", None, f"shape {y.shape}"), None
            x = unmask(y, mask)
        except Exception as exc:  # an unreachable or crashing provider is not a cheat
            return Answer(p.name, "no_answer", None, f"{type(exc).__name__}: {exc}"), None
        err = residual_ratio(a2, y, b2)
        if not err <= 1.0:
            self._strike(p.name)
            shown = err if np.isfinite(err) else None  # JSON has no infinity
            return Answer(p.name, "wrong", shown, "residual check failed"), None
        return Answer(p.name, "accepted", err), x

    def solve(self, a: sp.spmatrix, b: np.ndarray) -> np.ndarray:
        """x with A x = b, from the providers when they can be trusted, else from the owner."""
        a = sp.csc_matrix(a)
        b = np.asarray(b, dtype=float)
        self.cycle += 1
        pool = self._pool()
        need = 2 if self.double_check else 1
        answers: list[Answer] = []
        good: list[tuple[int, np.ndarray]] = []  # (index into answers, x)

        def ask(p: Provider) -> None:
            ans, x = self._ask(p, a, b)
            answers.append(ans)
            if x is not None:
                good.append((len(answers) - 1, x))

        for p in pool[:need]:
            ask(p)
        x = self._consensus(good, need)
        decided = "providers"
        if x is None and len(pool) > need:
            ask(pool[need])
            x = self._consensus(good, need)
            decided = "third_provider"
        if x is None:
            x = splu(a).solve(b)
            decided = "owner"
        for i, xi in good:
            if not _agree(x, xi, self.agree_tol):
                self._strike(answers[i].provider)
                answers[i] = Answer(answers[i].provider, "disagreed",
                                    answers[i].residual_ratio, "differs from the accepted result")
        banned = tuple(n for n in sorted(self.banned_until) if self.is_blacklisted(n))
        self.audits.append(Audit(self.cycle, decided, tuple(answers), banned))
        return x

    def _consensus(self, good: list[tuple[int, np.ndarray]], need: int) -> np.ndarray | None:
        if need == 1:
            return good[0][1] if good else None
        for i in range(len(good)):
            for j in range(i + 1, len(good)):
                if _agree(good[i][1], good[j][1], self.agree_tol):
                    return good[i][1]
        return None
