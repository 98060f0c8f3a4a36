"""Market clock arithmetic, the block trigger, and block recovery after a crash."""

from __future__ import annotations

from collections import Counter

import pytest

from edge.chain.keys import generate_key
from edge.chain.store import ChainStore
from edge.chain.verify import verify_store
from edge.clock import Clock
from edge.pl.dispatch import Dispatcher
from edge.runtime.blocks import BlockProducer, RecoveryError, Trigger
from edge.runtime.inbox import Inbox
from edge.runtime.intervals import Schedule

S = Schedule(interval_s=900, gate_s=60, round_s=10, max_rounds=3, horizon=2)


def test_interval_arithmetic():
    assert S.start_of(1800) == 1800 and S.start_of(2699.9) == 1800
    assert S.gate(2700) == 2640 and S.round_due(2700, 2) == 2660
    assert S.next_open(2639.9) == 2700  # gate of 2700 still open
    assert S.next_open(2640) == 3600  # ... and now closed


@pytest.mark.parametrize("interval, rnd, t, cleared, want", [
    (2700, 0, 2000, None, None),
    (2700, 0, 2640, None, "gate_closed"),
    (2701, 0, 2000, None, "bad_interval"),
    (2700 + 900 * 3, 0, 2000, None, "too_early"),  # beyond the horizon of 2 intervals
    (2700, 1, 2645, 0, None),  # revision after round 0 was published
    (2700, 1, 2635, None, "round_not_open"),  # before any round was cleared
    (2700, 2, 2645, 0, "round_not_open"),  # skipping a round
    (2700, 3, 2645, 2, "bad_round"),  # beyond max_rounds
])
def test_quote_refusals(interval, rnd, t, cleared, want):
    assert S.quote_refusal(interval, rnd, t, cleared) == want


def test_accelerated_clock():
    c = Clock(accel=450, origin_wall_ms=1_000_000, origin_sim_ms=5_000_000)
    assert c.at_wall_ms(1_000_000) == 5_000_000
    assert c.at_wall_ms(1_002_000) == 5_000_000 + 900_000  # 2 s wall = 15 min
    assert c.wall_seconds(900) == 2


def test_block_trigger_size_or_time():
    t = Trigger(max_txs=10, max_age_ms=1000)
    assert not t.due(0, None, 5000)
    assert t.due(10, 4999, 5000)  # size
    assert not t.due(9, 4500, 5000)
    assert t.due(1, 4000, 5000)  # age


@pytest.fixture
def parts(tmp_path):
    inbox = Inbox(tmp_path / "inbox.db")
    store = ChainStore(tmp_path / "chain.db")
    key = generate_key()
    producer = BlockProducer(inbox.pending, store, key, "edge-s1", Trigger(3, 1000),
                             Dispatcher("cpu"))
    yield inbox, store, key, producer
    inbox.close()
    store.close()


def test_blocks_cut_by_size_then_age_and_verify(parts):
    inbox, store, key, producer = parts
    inbox.pending.add([{"type": "x", "i": i} for i in range(7)], 10_000)
    made = producer.step(10_000)
    assert [b.header.ntx for b in made] == [3, 3]  # size trigger twice; one left, too young
    assert inbox.pending.stats() == (1, 10_000)
    assert producer.step(10_999) == []
    made = producer.step(11_000)
    assert [b.header.ntx for b in made] == [1]
    assert store.height() == 2 and inbox.pending.flushed_height() == 2
    txs = [t for h in range(3) for t in store.get(h).tx_objects()]
    assert [t["i"] for t in txs] == list(range(7))  # in order, none lost, none twice
    assert verify_store(store, hasher=Dispatcher("cpu")).ok


def test_recovery_after_a_crash_between_chain_and_inbox(parts):
    inbox, store, key, producer = parts
    inbox.pending.add([{"type": "x", "i": i} for i in range(5)], 0)
    producer.flush(0)
    # simulate the crash: the next block reached the chain, the inbox never heard of it
    rows = inbox.pending.head(3)
    from edge.chain.block import make_block
    block = make_block(chain="edge-s1", height=1, prev=store.head_hash(),
                       txs=[r.tx for r in rows], ts=1, key=key)
    store.append(block)
    assert producer.recover() == 1
    assert inbox.pending.stats()[0] == 0 and inbox.pending.flushed_height() == 1
    assert producer.recover() == 0  # idempotent
    inbox.pending.add([{"type": "y"}], 0)
    producer.step(0, force=True)
    assert verify_store(store).ok and store.height() == 2


def test_recovery_refuses_a_chain_that_is_not_ours(parts):
    inbox, store, key, producer = parts
    inbox.pending.add([{"type": "x", "i": 1}], 0)
    from edge.chain.block import make_block
    store.append(make_block(chain="edge-s1", height=0, prev="00" * 32, txs=[{"other": 1}],
                            ts=1, key=key))
    with pytest.raises(RecoveryError, match="block 0"):
        producer.recover()


def test_counters_accumulate(parts):
    inbox = parts[0]
    inbox.count(Counter({"rejected:bad_tag": 2}))
    inbox.count(Counter({"rejected:bad_tag": 3, "accepted:bid": 1}))
    assert inbox.counters() == {"accepted:bid": 1, "rejected:bad_tag": 5}


def test_a_replayed_cut_takes_exactly_the_journalled_count(parts):
    """Replay cuts ``ntx`` from the head: the live edge journals a block once it is on disk,
    possibly after more transactions were queued behind it."""
    inbox, store, key, producer = parts
    inbox.pending.add([{"type": "x", "i": i} for i in range(6)], 0)
    assert [t["i"] for t in producer.flush(0, ntx=2).tx_objects()] == [0, 1]
    assert [t["i"] for t in producer.flush(0, ntx=9).tx_objects()] == [2, 3, 4]  # max_txs 3
    assert producer.flush(0, ntx=-1) is None and producer.flush(0, ntx=0) is None
    assert [t["i"] for t in producer.flush(0).tx_objects()] == [5]


def test_a_backlog_is_cut_as_single_cuts_would_and_recovered_after_a_crash(parts, tmp_path):
    """``cut`` of three blocks makes the blocks three ``flush`` calls make (same txs, same
    ts, same links), in one chain write; a crash after that write leaves the chain three
    blocks ahead of the inbox, which start-up reconciles block by block."""
    inbox, store, key, producer = parts
    inbox.pending.add([{"type": "x", "i": i} for i in range(8)], 0)
    made = producer.cut(5_000, 3)
    assert [b.header.ntx for b in made] == [3, 3, 2]
    other_inbox, other = Inbox(tmp_path / "o.db"), ChainStore(tmp_path / "o-chain.db")
    single = BlockProducer(other_inbox.pending, other, key, "edge-s1", Trigger(3, 1000),
                           Dispatcher("cpu"))
    other_inbox.pending.add([{"type": "x", "i": i} for i in range(8)], 0)
    assert [single.flush(5_000).header.hash() for _ in range(3)] == [
        b.header.hash() for b in made]
    other_inbox.close()
    other.close()
    # the crash: three more blocks reached the chain, the inbox never heard of them
    inbox.pending.add([{"type": "y", "i": i} for i in range(7)], 0)
    rows = inbox.pending.head(7)
    from edge.chain.block import make_block
    blocks, prev = [], store.head_hash()
    for h, chunk in ((3, rows[:3]), (4, rows[3:6]), (5, rows[6:])):
        blocks.append(make_block(chain="edge-s1", height=h, prev=prev,
                                 txs=[r.tx for r in chunk], ts=6_000, key=key))
        prev = blocks[-1].header.hash()
    store.append_many(blocks)
    assert producer.recover() == 3
    assert inbox.pending.stats()[0] == 0 and inbox.pending.flushed_height() == 5
    assert verify_store(store).ok


def test_append_many_stores_all_or_none(tmp_path):
    store = ChainStore(tmp_path / "c.db")
    key = generate_key()
    from edge.chain.block import make_block
    from edge.chain.store import AppendError
    b0 = make_block(chain="c", height=0, prev=store.head_hash(), txs=[b"a"], ts=1, key=key)
    b1 = make_block(chain="c", height=1, prev=b0.header.hash(), txs=[b"b"], ts=1, key=key)
    bad = make_block(chain="c", height=2, prev=b0.header.hash(), txs=[b"c"], ts=1, key=key)
    with pytest.raises(AppendError):
        store.append_many([b0, b1, bad])  # the third does not link to the second
    assert store.height() == -1
    store.append_many([b0, b1])
    assert store.height() == 1 and store.head_hash() == b1.header.hash()
    store.close()


def test_a_backlog_is_cut_in_bounded_steps(parts, monkeypatch):
    """A backlog of 8 txs (max_txs 3) with at most two blocks per chain write: a write of
    two blocks, then one of the last (partial) block at the forced step; all of it chained."""
    import edge.runtime.blocks as blocks

    inbox, store, key, producer = parts
    monkeypatch.setattr(blocks, "CUT_BLOCKS", 2)
    writes: list[int] = []
    append_many = store.append_many
    monkeypatch.setattr(store, "append_many",
                        lambda bs: (writes.append(len(bs)), append_many(bs))[1])
    inbox.pending.add([{"type": "x", "i": i} for i in range(8)], 0)
    made = producer.step(0, force=True)
    assert [b.header.ntx for b in made] == [3, 3, 2] and writes == [2, 1]
    assert inbox.pending.stats()[0] == 0 and verify_store(store).ok
