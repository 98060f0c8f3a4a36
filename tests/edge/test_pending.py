"""The chain's queue kept in runs: blocks cut across runs, and an older inbox's queue moved."""

from __future__ import annotations

import sqlite3

import pytest

from edge.chain.packed import pack, unpack
from edge.runtime.inbox import Inbox


def _flushed(inbox: Inbox) -> list[tuple[int, int]]:
    return inbox.db.read("SELECT height, last_msg FROM flushed ORDER BY height")


def test_a_block_cut_inside_a_run_leaves_the_rest_in_order(tmp_path):
    inbox = Inbox(tmp_path / "inbox.db")
    p = inbox.pending
    p.add([b"a", b"b", b"c", b"d", b"e"], 1000, msg_ids=[11, 12, None, 14, 15])
    p.add([b"f", b"g", b"h"], 2000, msg_ids=[16, None, 18])
    p.add([b"i"], 3000)  # a round result: no message
    assert p.stats() == (9, 1000)
    first = p.head(4)
    assert [t.tx for t in first] == [b"a", b"b", b"c", b"d"]
    assert [t.id for t in first] == sorted(t.id for t in first)
    p.drop(first[-1].id, 0)
    # by hand: the newest message among a-d is 14
    assert _flushed(inbox) == [(0, 14)]
    assert p.stats() == (5, 1000)  # e still waits in the first run, added at 1000
    rest = p.head(10)
    assert [(t.tx, t.added_ms) for t in rest] == [(b"e", 1000), (b"f", 2000), (b"g", 2000),
                                                  (b"h", 2000), (b"i", 3000)]
    assert min(t.id for t in rest) > first[-1].id
    p.drop_many([(rest[2].id, 1), (rest[4].id, 2)])  # e-g, then h-i
    assert _flushed(inbox) == [(0, 14), (1, 16), (2, 18)]
    assert p.stats() == (0, None) and p.head(5) == [] and p.flushed_height() == 2
    inbox.close()


def test_a_drop_survives_a_restart(tmp_path):
    inbox = Inbox(tmp_path / "inbox.db")
    inbox.pending.add([b"a", b"b", b"c"], 5, msg_ids=[1, 2, 3])
    inbox.pending.drop(inbox.pending.head(2)[-1].id, 0)
    inbox.close()
    again = Inbox(tmp_path / "inbox.db")
    assert [t.tx for t in again.pending.head(5)] == [b"c"] and again.pending.stats() == (1, 5)
    again.close()


@pytest.mark.parametrize("with_msg_id", [True, False])
def test_an_older_inbox_queue_of_rows_is_moved_in_order(tmp_path, with_msg_id):
    """An inbox made before runs held one ``pending`` row per transaction (at first without
    ``msg_id``); opening it moves every row, in order, with its time and message."""
    path = tmp_path / "inbox.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE pending (id INTEGER PRIMARY KEY, tx BLOB NOT NULL,"
               " added_ms INTEGER NOT NULL" + (", msg_id INTEGER)" if with_msg_id else ")"))
    rows = [(3, b"x", 10, 7), (5, b"y", 20, None), (9, b"z", 30, 8)]
    if with_msg_id:
        db.executemany("INSERT INTO pending VALUES (?, ?, ?, ?)", rows)
    else:
        db.executemany("INSERT INTO pending VALUES (?, ?, ?)", [r[:3] for r in rows])
    db.commit()
    db.close()
    inbox = Inbox(path)
    assert [(t.tx, t.added_ms) for t in inbox.pending.head(10)] == [(b"x", 10), (b"y", 20),
                                                                    (b"z", 30)]
    assert not inbox.db.read("SELECT name FROM sqlite_master WHERE name = 'pending'")
    inbox.pending.drop(inbox.pending.head(3)[-1].id, 0)
    assert _flushed(inbox) == [(0, 8 if with_msg_id else 0)]
    inbox.close()


def test_a_run_whose_lengths_disagree_with_its_bytes_is_refused():
    blob = pack([b"abc", b"de"])
    assert blob == b"\x00\x00\x00\x03abc\x00\x00\x00\x02de"
    assert unpack(blob, 2) == [b"abc", b"de"]
    with pytest.raises(ValueError):
        unpack(blob[:-1], 2)
    with pytest.raises(ValueError):
        unpack(blob + b"x", 2)
