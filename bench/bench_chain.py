"""Chain benchmarks: Merkle root cost over its hashing floor, sign-append / verify throughput.

1. Merkle root of 1,000,000 leaves of 100 bytes against the floor: the same
   number of SHA-256 calls (n leaves + n-1 nodes, the nodes as 65-byte
   messages) through the same C loop, so the ratio is the tree's own cost
   (levels, copies) over the hashing it cannot avoid. Target <= 1.3x. Where
   the native loop is not built, both sides run through hashlib instead (and
   the line says so).
2. Blocks of 1,000 gateway transactions: tag checked, Merkle-hashed, stored
   (SQLite WAL, synchronous=FULL) and signed; then the whole store verified.
   Target >= 20,000 tx/s each, reported next to the bare hashing-and-signing
   cost. The same through the running edge service (MQTT in -> admitted -> in
   a signed block) is measured by bench_ingest.py in its same-run set-up.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import args, line  # noqa: E402
from edge.chain.block import make_block  # noqa: E402
from edge.chain.keys import generate_key  # noqa: E402
from edge.chain.merkle import merkle_root  # noqa: E402
from edge.chain.store import ChainStore  # noqa: E402
from edge.chain.verify import verify_store  # noqa: E402
from edge.protocol.auth import add_tag, check_tag  # noqa: E402


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_merkle(n: int, repeat: int) -> None:
    from edge.chain import native
    from edge.chain.merkle import CPU

    leaves = [os.urandom(100) for _ in range(n)]
    # The floor: n leaf hashes and n-1 node-sized (64 + 1 prefix byte) hashes in one loop.
    floor_msgs = leaves + [os.urandom(64) for _ in range(n - 1)]
    fast = native.load()
    if fast is not None:
        hasher, bare = "native", lambda: fast.leaf_digests_raw(floor_msgs)
    else:
        hasher, bare = "hashlib", lambda: CPU.leaf_hashes(floor_msgs)
    base = best_of(bare, repeat)
    tree = best_of(lambda: merkle_root(leaves), repeat)
    line("chain", f"merkle_root_{n}_leaves_100B", tree, "s", baseline=base, target="ratio<=1.3",
         baseline_is=f"{2 * n - 1} SHA-256 calls through the same loop", hasher=hasher)


def gateway_txs(n: int, key: bytes) -> list[dict]:
    return [
        add_tag({"v": 1, "type": "bid", "site": "s1", "gw": f"gw{i % 500}", "seq": i,
                 "ts": 1_700_000_000_000 + i, "interval": 1_700_000_100,
                 "side": "sell" if i % 2 else "buy", "qty_wh": 100 + i % 900,
                 "price": 90_000 + i % 5000}, key)
        for i in range(n)
    ]


def bench_append_verify(blocks: int, per_block: int) -> None:
    gw_key = os.urandom(32)
    edge_key = generate_key()
    msgs = gateway_txs(blocks * per_block, gw_key)
    batches = [msgs[i * per_block:(i + 1) * per_block] for i in range(blocks)]
    with tempfile.TemporaryDirectory() as tmp:
        store = ChainStore(Path(tmp) / "bench.db")
        t = time.perf_counter()
        for batch in batches:
            for m in batch:
                check_tag(m, gw_key)
            h = store.height() + 1
            store.append(make_block(chain="bench", height=h, prev=store.head_hash(), txs=batch,
                                    ts=1_700_000_000_000 + h, key=edge_key))
        append_s = time.perf_counter() - t
        t = time.perf_counter()
        report = verify_store(store)
        verify_s = time.perf_counter() - t
        store.close()
    assert report.ok and report.blocks == blocks
    ntx = blocks * per_block

    # Bare cost: the SHA-256 work of the tree, the HMACs and the signatures alone.
    from edge.chain.block import encode_txs
    from edge.protocol.auth import tag_for
    leaves = [encode_txs(b) for b in batches]
    t = time.perf_counter()
    for batch, enc in zip(batches, leaves, strict=True):
        for m in batch:
            tag_for(m, gw_key)
        merkle_root(enc)
        edge_key.sign(b"x" * 200)
    bare_s = time.perf_counter() - t
    line("chain", f"append_{per_block}tx_blocks", ntx / append_s, "tx/s",
         baseline=ntx / bare_s, target=">=20000", blocks=blocks)
    line("chain", f"verify_{per_block}tx_blocks", ntx / verify_s, "tx/s", target=">=20000",
         blocks=blocks)


def main() -> None:
    opts = args(__doc__.splitlines()[0])
    bench_merkle(100_000 if opts.quick else 1_000_000, 1 if opts.quick else 3)
    bench_append_verify(5 if opts.quick else 50, 1000)


if __name__ == "__main__":
    main()
