"""The block producer: pending transactions become signed blocks on a size-or-time trigger.

Pending transactions (telemetry digests, bids, round results, settlements,
price signals, anchor receipts) wait in the inbox database in arrival order.
A block is cut when ``max_txs`` are waiting or the oldest has waited
``max_age_s``; its Merkle tree is hashed through the PL dispatcher (any
``Hasher``) and the header is signed with the edge key.

Crash safety across two files: the block is appended to the chain store
first, then the inbox forgets the transactions and records the flushed
height. If the process dies between the two, the chain is one block ahead of
the inbox's flushed height; ``recover`` sees that, checks that the block's
transactions are exactly the first pending ones, and drops them, so a
transaction is never lost and never written twice.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass

from edge.chain.block import Block, make_block
from edge.chain.keys import PrivateKey
from edge.chain.merkle import Hasher
from edge.chain.store import ChainStore
from edge.clock import SYSTEM, Clock
from edge.runtime.inbox.pending import Pending

log = logging.getLogger("carbon_edge.blocks")

#: blocks cut in one chain transaction at most: a backlog (a long stall, a restart) is cut
#: in steps of this many, so its rows and blocks are never all in memory at once
CUT_BLOCKS = 32


@dataclass(frozen=True)
class Trigger:
    max_txs: int = 1000
    max_age_ms: int = 60_000

    def due(self, pending: int, oldest_ms: int | None, now_ms: int) -> bool:
        """Cut a block when enough is waiting or the oldest has waited long enough."""
        if pending <= 0:
            return False
        if pending >= self.max_txs:
            return True
        return oldest_ms is not None and now_ms - oldest_ms >= self.max_age_ms


#: Fault injection for the crash tests: SIGKILL ourselves at a named point of a block write.
CRASH_ENV = "CARBON_EDGE_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class RecoveryError(RuntimeError):
    """The chain store and the inbox disagree in a way we cannot repair."""


class BlockProducer:
    def __init__(self, pending: Pending, store: ChainStore, key: PrivateKey, chain_id: str,
                 trigger: Trigger, hasher: Hasher | None = None, clock: Clock = SYSTEM) -> None:
        self.pending = pending
        self.store = store
        self.key = key
        self.chain_id = chain_id
        self.trigger = trigger
        self.hasher = hasher
        self.clock = clock

    def recover(self) -> int:
        """Reconcile the inbox with blocks written just before a crash; returns blocks fixed."""
        fixed = 0
        flushed = self.pending.flushed_height()
        for height in range(flushed + 1, self.store.height() + 1):
            block = self.store.get(height)
            head = self.pending.head(len(block.txs))
            if [p.tx for p in head] != list(block.txs):
                raise RecoveryError(
                    f"block {height} is on the chain but its txs are not the pending ones"
                )
            upto = head[-1].id if head else -1
            self.pending.drop(upto, height)
            fixed += 1
            log.warning("recovered block written before a crash", extra={"height": height})
        return fixed

    def due(self, now_ms: int) -> bool:
        n, oldest = self.pending.stats()
        return self.trigger.due(n, oldest, now_ms)

    def flush(self, now_ms: int, ntx: int | None = None) -> Block | None:
        """Cut one block from the oldest pending txs (None when nothing is pending): up to
        ``max_txs`` of them, or exactly the first ``ntx`` where given (replay: the count
        the journal recorded), never more than ``max_txs``."""
        made = self.cut(now_ms, 1, ntx)
        return made[0] if made else None

    def cut(self, now_ms: int, count: int = 1, ntx: int | None = None) -> list[Block]:
        """Cut up to ``count`` consecutive blocks of ``ntx`` (default ``max_txs``) txs from
        the oldest pending ones (the last may hold fewer), stored in one chain transaction
        and forgotten by the inbox in one: a backlog of n blocks costs two fsyncs, not 2n.
        The blocks are those ``count`` single cuts at ``now_ms`` would make."""
        # a block whose inbox update failed (a disk error after the chain append) is
        # reconciled first, as at start-up: its txs must not go into a second block
        self.recover()
        size = self.trigger.max_txs if ntx is None else max(0, min(ntx, self.trigger.max_txs))
        rows = self.pending.head(size * max(0, count))
        if not rows:
            return []
        head = self.store.head()
        ts = max(now_ms, head.ts if head else 0)
        height, prev = self.store.height() + 1, self.store.head_hash()
        made: list[tuple[Block, int]] = []
        for i in range(0, len(rows), size):
            chunk = rows[i:i + size]
            block = make_block(chain=self.chain_id, height=height, prev=prev,
                               txs=[r.tx for r in chunk], ts=ts, key=self.key,
                               hasher=self.hasher)
            made.append((block, chunk[-1].id))
            height, prev = height + 1, block.header.hash()
        crash_point("before_chain_append")
        self.store.append_many([b for b, _ in made])
        crash_point("after_chain_append")
        self.pending.drop_many([(upto, b.height) for b, upto in made])
        for b, _ in made:
            log.info("block", extra={"height": b.height, "ntx": len(b.txs)})
        return [b for b, _ in made]

    def step(self, now_ms: int | None = None, force: bool = False) -> list[Block]:
        """Flush while due (or everything, when ``force``, e.g. at shutdown).

        Blocks carry wall time (the hub checks their ts against its own clock),
        the clock's unless ``now_ms`` is given.
        """
        if now_ms is None:
            now_ms = self.clock.wall_ms()
        out: list[Block] = []
        size = self.trigger.max_txs
        while True:
            n, oldest = self.pending.stats()
            if force and n:
                made = self.cut(now_ms, min(CUT_BLOCKS, -(-n // size)))
            elif self.trigger.due(n, oldest, now_ms):  # full blocks, or the aged one
                made = self.cut(now_ms, min(CUT_BLOCKS, max(1, n // size)))
            else:
                break
            if not made:
                break
            out.extend(made)
        return out
