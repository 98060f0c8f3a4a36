"""Validator scoring for choosing supervisor nodes (the carbon-flow paper's EA-DPoS).

Among the main chain's consensus nodes, each node i has an accuracy C_i, a
credit score D_i, the number of blocks it made T_i and the number of
transactions it handled tr_i. The carbon-flow paper (P3) defines

    CA_i    = C_i * D_i / sqrt(T_i)
    X_i     = CA_i * s / (n * sum_j CA_j),     W_i = X_i / sum_j X_j
    Delta_i = gamma * log2(tr_i),              P_i = W_i * Delta_i

and the s nodes with the largest P_i supervise. Dividing by sqrt(T) favours
nodes that have made fewer blocks (rotation); log2(tr) rewards work with
diminishing returns.

The formulas are undefined or perverse at the edges; our choices:
- **T_i = 0** (a node that has made no block yet): sqrt(0) would divide by
  zero and give it an infinite score. We count it as one block
  (T_eff = max(T, 1)): a newcomer ranks as a node with one block, the most
  favourable finite value, without dominating by infinity.
- **tr_i <= 1**: log2(1) = 0 and log2(0) = -inf, and a negative Delta would
  would rank idle nodes below every other node by an arbitrary amount. We clamp
  Delta_i = gamma * log2(max(tr_i, 1)), so such a node scores exactly 0: it can
  supervise only when fewer than s nodes score above 0.
- **sum CA = 0** (every node has C or D of 0): every W is 0 rather than 0/0.
- **Ties** in P are broken by node id (ascending), so the choice is a pure
  function of the inputs.

Scores are floats (analysis values); the chosen supervisor ids are what a
main-chain block will record with the integer inputs, each epoch (not yet
wired: the hub's main-chain pipeline is separate work). C and D are read as
given (a share in [0, 1] and a non-negative score); T and tr are counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeRecord:
    """One consensus node's record over the scoring window."""

    node: str
    accuracy: float  # C, in [0, 1]
    credit: float  # D, >= 0
    blocks: int  # T, blocks made
    transactions: int  # tr, transactions handled

    def check(self) -> None:
        if not self.node:
            raise ValueError("node: an id is required")
        for name in ("accuracy", "credit"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{self.node}: {name} must be a finite number, got {v!r}")
        if not 0 <= self.accuracy <= 1:
            raise ValueError(f"{self.node}: accuracy must be in [0, 1], got {self.accuracy}")
        if self.credit < 0:
            raise ValueError(f"{self.node}: credit must be >= 0, got {self.credit}")
        for name in ("blocks", "transactions"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{self.node}: {name} must be an integer >= 0, got {v!r}")


@dataclass(frozen=True)
class Score:
    node: str
    ca: float
    x: float
    w: float
    delta: float
    p: float


@dataclass(frozen=True)
class Scoring:
    """Every node's score (input order) and the chosen supervisors (best first)."""

    scores: tuple[Score, ...]
    supervisors: tuple[str, ...]


def score(nodes: Sequence[NodeRecord], s: int, gamma: float = 1.0) -> Scoring:
    """Score the consensus nodes and pick the top ``s`` as supervisors."""
    n = len(nodes)
    if n == 0:
        raise ValueError("nodes: at least one consensus node is needed")
    if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= n:
        raise ValueError(f"s: must be an integer in 1..{n}, got {s!r}")
    if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma: must be a finite number > 0, got {gamma!r}")
    ids = [r.node for r in nodes]
    if len(set(ids)) != n:
        raise ValueError("nodes: ids must be unique")
    for r in nodes:
        r.check()
    ca = [r.accuracy * r.credit / math.sqrt(max(r.blocks, 1)) for r in nodes]
    total_ca = math.fsum(ca)
    x = [c * s / (n * total_ca) if total_ca > 0 else 0.0 for c in ca]
    total_x = math.fsum(x)
    w = [xi / total_x if total_x > 0 else 0.0 for xi in x]
    delta = [gamma * math.log2(max(r.transactions, 1)) for r in nodes]
    scores = tuple(Score(r.node, ca[i], x[i], w[i], delta[i], w[i] * delta[i])
                   for i, r in enumerate(nodes))
    best = sorted(scores, key=lambda sc: (-sc.p, sc.node))[:s]
    return Scoring(scores, tuple(sc.node for sc in best))
