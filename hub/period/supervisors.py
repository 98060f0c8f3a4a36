"""Validator scoring per epoch: the scoring inputs from what the hub saw, and the record.

The consensus nodes are the registered, active edges (they sign the blocks
the main chain anchors). Over an epoch [start, start + epoch_s) the hub
counts, per edge, from its own tables:
- T, blocks made: edge blocks the hub stored during the epoch;
- tr, transactions handled: the transactions in those blocks;
- C, accuracy: the share of its offered blocks that were good,
  T / (T + conflicts), a conflict being an equivocation or fork alarm raised
  against it in the epoch (1 when it offered nothing);
- D, credit: 1 / (1 + every conflict it ever caused), so a node's record
  follows it from epoch to epoch.
C and D go on the chain in parts per million, so the record is integers; the
scores are computed by hub.consensus.scoring.score and the chosen
supervisors recorded with the inputs (records.SupervisorRecord).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from hub.allocation.ladder import round_half_up
from hub.consensus.scoring import NodeRecord, score
from hub.period.records import ScoredNode, SupervisorRecord

PPM = 1_000_000


@dataclass(frozen=True)
class NodeStats:
    node: str
    blocks: int
    transactions: int
    conflicts_epoch: int
    conflicts_total: int

    def accuracy_ppm(self) -> int:
        offered = self.blocks + self.conflicts_epoch
        return PPM if offered == 0 else round_half_up(Fraction(PPM * self.blocks, offered))

    def credit_ppm(self) -> int:
        return round_half_up(Fraction(PPM, 1 + self.conflicts_total))


def epoch_record(epoch: int, epoch_s: int, stats: Sequence[NodeStats], s: int,
                 gamma_milli: int) -> SupervisorRecord | None:
    """Score the nodes and pick min(s, n) supervisors; None when there is no node."""
    if not stats:
        return None
    stats = sorted(stats, key=lambda n: n.node)
    nodes = [NodeRecord(n.node, n.accuracy_ppm() / PPM, n.credit_ppm() / PPM, n.blocks,
                        n.transactions) for n in stats]
    got = score(nodes, min(s, len(nodes)), gamma_milli / 1000)
    return SupervisorRecord(
        epoch=epoch, epoch_s=epoch_s, s=s, gamma_milli=gamma_milli,
        nodes=[ScoredNode(node=n.node, accuracy_ppm=n.accuracy_ppm(), credit_ppm=n.credit_ppm(),
                          blocks=n.blocks, transactions=n.transactions,
                          p_ppb=max(round(sc.p * 1e9), 0))
               for n, sc in zip(stats, got.scores, strict=True)],
        supervisors=list(got.supervisors))
