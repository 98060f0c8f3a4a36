"""The store: linear appends only, and verify catches every tampered byte."""

from __future__ import annotations

import sqlite3

import pytest

from edge.chain.block import GENESIS_PREV, make_block
from edge.chain.keys import generate_key, public_id
from edge.chain.packed import pack, unpack
from edge.chain.store import AppendError, ChainStore
from edge.chain.verify import verify_store


def build(store: ChainStore, key, blocks: int, txs: int = 3, chain: str = "t") -> None:
    for _ in range(blocks):
        h = store.height() + 1
        store.append(
            make_block(
                chain=chain, height=h, prev=store.head_hash(), ts=1_700_000_000_000 + h,
                txs=[{"h": h, "i": i, "wh": 10 * i} for i in range(txs)], key=key,
            )
        )


def test_append_and_verify(tmp_path, producer_key):
    with ChainStore(tmp_path / "c.db") as store:
        build(store, producer_key, 5)
        report = verify_store(store, [public_id(producer_key.public_key())])
        assert report.ok and report.blocks == 5 and report.head == 4
        assert store.get(3).tx_objects()[2] == {"h": 3, "i": 2, "wh": 20}


def test_empty_block_and_empty_chain(tmp_path, producer_key):
    with ChainStore(tmp_path / "c.db") as store:
        assert verify_store(store).ok and store.height() == -1
        build(store, producer_key, 2, txs=0)
        assert verify_store(store).ok


def test_append_refuses_what_does_not_extend_the_head(tmp_path, producer_key):
    with ChainStore(tmp_path / "c.db") as store:
        build(store, producer_key, 2)
        wrong_height = make_block(chain="t", height=5, prev=store.head_hash(), txs=[], ts=1,
                                  key=producer_key)
        with pytest.raises(AppendError, match="height 5, expected 2"):
            store.append(wrong_height)
        fork = make_block(chain="t", height=2, prev=GENESIS_PREV, txs=[], ts=1, key=producer_key)
        with pytest.raises(AppendError, match="does not link"):
            store.append(fork)
        assert store.height() == 1 and verify_store(store).ok


def test_foreign_producer_is_named(tmp_path, producer_key):
    with ChainStore(tmp_path / "c.db") as store:
        build(store, producer_key, 3)
        report = verify_store(store, [public_id(generate_key().public_key())])
        assert not report.ok and report.bad_height == 0
        assert "not an allowed producer" in report.reason


def _flip_each_byte(db_path, table, column, key_cols):
    """Yield after flipping one byte of one stored value, restoring it afterwards."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    rows = conn.execute(f"SELECT {', '.join(key_cols)}, {column} FROM {table}").fetchall()
    for row in rows:
        keys, value = row[:-1], row[-1]
        blob = bytearray(value.encode() if isinstance(value, str) else value)
        where = " AND ".join(f"{k} = ?" for k in key_cols)
        for i in range(len(blob)):
            original = blob[i]
            blob[i] ^= 0x01
            new = bytes(blob).decode("latin-1") if isinstance(value, str) else bytes(blob)
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (new, *keys))
            yield keys[0]
            blob[i] = original
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (value, *keys))
    conn.close()


@pytest.mark.parametrize(
    "table,column,keys",
    [("blocks", "header", ["height"]), ("blocks", "hash", ["height"]),
     ("block_txs", "data", ["height"])],
)
def test_every_flipped_byte_is_caught_at_its_height(tmp_path, producer_key, table, column, keys):
    path = tmp_path / "c.db"
    with ChainStore(path) as store:
        build(store, producer_key, 3, txs=2)
    flips = 0
    for height in _flip_each_byte(path, table, column, keys):
        with ChainStore(path) as store:
            report = verify_store(store)
        assert not report.ok, f"a flipped byte in {table}.{column} at height {height} passed"
        # Changing a block's header also breaks the next block's link; the
        # first bad height is the tampered block itself.
        assert report.bad_height == height, report
        flips += 1
    assert flips > 100
    with ChainStore(path) as store:
        assert verify_store(store).ok


def test_missing_block_and_missing_tx_are_named(tmp_path, producer_key):
    path = tmp_path / "c.db"
    with ChainStore(path) as store:
        build(store, producer_key, 4)
    conn = sqlite3.connect(path)
    (blob,) = conn.execute("SELECT data FROM block_txs WHERE height = 2").fetchone()
    three = unpack(blob, 3)
    conn.execute("UPDATE block_txs SET data = ? WHERE height = 2", (pack([three[0], three[2]]),))
    conn.commit()
    with ChainStore(path) as store:
        report = verify_store(store)
    assert (report.bad_height, report.reason) == (2, "header says 3 txs, store holds 2")
    conn.execute("DELETE FROM blocks WHERE height = 1")
    conn.commit()
    conn.close()
    with ChainStore(path) as store:
        report = verify_store(store)
    assert (report.bad_height, report.reason) == (1, "height 1 missing")


def test_blocks_stored_a_row_per_transaction_are_read_and_extended(tmp_path, producer_key):
    """A store written before blocks' transactions were packed holds them a row each in
    ``txs``: they read back, verify, and the chain goes on with packed blocks after them."""
    path = tmp_path / "c.db"
    with ChainStore(path) as store:
        build(store, producer_key, 3)
        before = [store.get(h) for h in range(3)]
    conn = sqlite3.connect(path)
    for height, blob in conn.execute("SELECT height, data FROM block_txs").fetchall():
        conn.executemany("INSERT INTO txs (height, idx, data) VALUES (?, ?, ?)",
                         [(height, i, t) for i, t in enumerate(unpack(blob, 3))])
    conn.execute("DELETE FROM block_txs")
    conn.commit()
    conn.close()
    with ChainStore(path) as store:
        assert [store.get(h) for h in range(3)] == before
        build(store, producer_key, 2)
        assert verify_store(store).ok and store.height() == 4
        assert store.get(4).tx_objects()[1] == {"h": 4, "i": 1, "wh": 10}


def test_transactions_whose_lengths_disagree_are_named_at_their_height(tmp_path, producer_key):
    path = tmp_path / "c.db"
    with ChainStore(path) as store:
        build(store, producer_key, 3)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE block_txs SET data = data || x'00' WHERE height = 1")
    conn.commit()
    conn.close()
    with ChainStore(path) as store:
        report = verify_store(store)
    assert (report.ok, report.bad_height, report.head) == (False, 1, 0)
    assert report.reason.startswith("transactions unreadable")
