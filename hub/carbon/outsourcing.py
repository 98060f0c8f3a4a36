"""Privacy-preserving outsourcing of the tracing solve (SEEDS P3), with checks.

The owner of the network does not hand A_u and P_G to a computing provider.
It sends a masked system

    A' = M1 A M2,   b' = M1 (lambda b)

with fresh random invertible M1, M2 and a scalar lambda > 0 for every
request; the provider solves A' y = b' and the owner recovers
x = M2 y / lambda. (The paper masks b with a random diagonal, which cannot be
undone unless the diagonal is a scalar: SEEDS P3 asks for this correction.)

M1 = D1 P1 and M2 = P2 D2, where P are random permutations and D random
diagonals with entries of random sign and magnitude in [0.5, 2). These masks
keep A' exactly as sparse as A, so the provider's sparse LU costs what the
owner's would: values and bus identities are hidden, the shape of the graph
(which buses connect, up to relabelling) is not. Denser masks such as
P D (I + L) with random sparse triangular L also blur the shape, but we
measured them to destroy the sparsity that makes 10k-bus cases fast (about
10x the non-zeros and 1000x the solve time on case1354pegase), so they are
not offered.

Every answer is checked by its residual, row by row (one product with A):
it is accepted when |A x - b|_i <= tol_c (|A| |x| + |b|)_i + tol_n S for
every row i, with S the largest (|A| |x| + |b|)_i. The componentwise part
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
    """One request's secret: M1, M2 and lambda."""

    m1: sp.csr_matrix
    m2: sp.csr_matrix
    lam: float


def _signed_scale(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n)


def make_mask(n: int, rng: np.random.Generator) -> Mask:
    """Fresh random invertible masks for an n x n system."""
    p1 = sp.csr_matrix((np.ones(n), (np.arange(n), rng.permutation(n))), shape=(n, n))
    p2 = sp.csr_matrix((np.ones(n), (np.arange(n), rng.permutation(n))), shape=(n, n))
    m1 = sp.diags(_signed_scale(n, rng)) @ p1
    m2 = p2 @ sp.diags(_signed_scale(n, rng))
    return Mask(m1=m1.tocsr(), m2=m2.tocsr(), lam=float(rng.uniform(0.5, 2.0)))


def mask_system(a: sp.spmatrix, b: np.ndarray, mask: Mask) -> tuple[sp.csc_matrix, np.ndarray]:
    """A' = M1 A M2 and b' = M1 (lambda b): what a provider sees."""
    return (mask.m1 @ a @ mask.m2).tocsc(), mask.m1 @ (mask.lam * np.asarray(b, dtype=float))


def unmask(y: np.ndarray, mask: Mask) -> np.ndarray:
    """x = M2 y / lambda."""
    return (mask.m2 @ y) / mask.lam


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
        mask = make_mask(a.shape[0], self.rng)
        a2, b2 = mask_system(a, b, mask)
        try:
            y = np.asarray(p.solve(a2, b2), dtype=float)
            if y.shape != b2.shape:
                return Answer(p.name, "no_answer", None, f"shape {y.shape}"), None
            x = unmask(y, mask)
        except Exception as exc:  # an unreachable or crashing provider is not a cheat
            return Answer(p.name, "no_answer", None, f"{type(exc).__name__}: {exc}"), None
        err = residual_ratio(a, x, b)
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
