"""The gateway reads result frames: its fills decoder against the edge's encoder and decoder.

A result arrives as its signed header line and a binary fills block
(edge/protocol/fills.py). The firmware's decoder (firmware/gateway/fills.py)
runs on the unix port, with the port's heap and with a board's; every block
here is made by the edge's reference encoder, or by patching one at offsets
computed here from the layout, so the two implementations are checked against
each other. Then `Downlink.accept` with whole frames: each bad frame is
refused with its reason and a text that says what is wrong, and the result
kept before it stays in place.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct

import pytest

from edge.protocol import fills as F
from tests.kit.firmware import (
    TEST_EDGE_SIGNER,
    fills_block,
    frame_of,
    result_frame,
    result_header,
    sign_downlink,
)

SITE, GW, IV = "s1", "gw-01", 1_718_445_600
OTHER_SEED = bytes(range(100, 132))
ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.-"


def decode_on_mp(board, blobs: list[bytes], interval: int) -> list:
    """Each block decoded by the firmware: its rows, or ["error", message]."""
    code = (
        "import json\nfrom binascii import unhexlify\nfrom gateway import fills\nout = []\n"
        f"for h in {json.dumps([b.hex() for b in blobs])}:\n"
        "    b = unhexlify(h)\n"
        "    try:\n"
        f"        out.append([fills.digest(b), fills.decode(b, {interval})])\n"
        "    except ValueError as e:\n"
        "        out.append(['error', str(e)])\n"
        "print(json.dumps(out))"
    )
    return json.loads(board.run(code).stdout.strip().splitlines()[-1])


def random_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        order_wh = rng.choice([1, 2, rng.randrange(1, 10_000), 2**31 - 1])
        status = rng.randrange(4) if order_wh > 1 else rng.choice([0, 2, 3])
        qty = rng.randrange(1, order_wh) if status == 1 else order_wh if status == 2 else 0
        gw = "".join(rng.choice(ID_CHARS) for _ in range(rng.choice([1, 5, 32])))
        seq = rng.choice([i, rng.randrange(2**53), 2**53 - 1])
        rows.append({"gw": gw, "side": rng.choice(["buy", "sell"]), "qty_wh": qty,
                     "status": F.STATUSES[status], "price": rng.choice([0, 2**31 - 1,
                                                                         rng.randrange(2**31)]),
                     "seq": seq, "order_wh": order_wh})
    return rows


def test_decoder_equals_the_edges_on_random_blocks(board):
    rng = random.Random(20261202)
    sizes = [0, 1, 2, 7, 64, 200]
    blobs = [fills_block(random_rows(rng, n)) for n in sizes]
    got = decode_on_mp(board, blobs, IV)
    for blob, n, (sha, rows) in zip(blobs, sizes, got, strict=True):
        assert sha == hashlib.sha256(blob).hexdigest()
        want = F.decode(blob, IV)
        assert len(want) == n and rows == want
    # every status, both sides and the bounds really occurred
    seen = {(r["status"], r["side"]) for _, rows in got for r in rows}
    assert len(seen) == 8
    assert {2**53 - 1, 2**31 - 1} <= {v for _, rows in got for r in rows for v in r.values()}


def patched(blob: bytes, fmt: str, at: int, value: int) -> bytes:
    b = bytearray(blob)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


# a block of two fills: "gw-1" sells 10 of 10 Wh (filled), "b" buys 0 of 7 Wh (unfilled);
# the offsets below are the layout's, counted here: head 8, seq 16, price 8, order_wh 8,
# qty_wh 8, side 2, status 2, then the ids (5 + 2 bytes)
TWO = F.encode([3, 4], [100, 90], [10, 7], [10, 0], [1, 0], [2, 0], ["gw-1", "b"])
SEQ0, PRICE0, ORDER0, QTY0, SIDE0, STATUS0, IDS = 8, 24, 32, 40, 48, 50, 52
HUGE = F.MAGIC + struct.pack("<I", 100_001) + b"\0" * 40

BAD_BLOCKS = [
    (b"", "not a fills block (magic FIL1 missing)"),
    (b"FIL2" + TWO[4:], "not a fills block (magic FIL1 missing)"),
    (HUGE, "100001 fills exceed the protocol's 100000 per result"),
    (TWO[:IDS - 1], "a block of 2 fills cannot be 51 bytes"),  # cut inside the columns
    (TWO[:-1], "fill 1: id is not 1 to 32 characters ended by a newline"),  # last newline cut
    (TWO + b"x", "1 bytes after the block's 2 ids"),
    (TWO[:IDS] + b"gw 1\nb\n", "fill 0: id holds a byte outside [A-Za-z0-9_.-]"),
    (TWO[:IDS] + b"gw\xc3\xa9\nb\n", "fill 0: id holds a byte outside [A-Za-z0-9_.-]"),
    (TWO[:IDS] + b"\nbcde\n", "fill 0: id is not 1 to 32 characters ended by a newline"),
    (TWO[:IDS] + b"a" * 33 + b"\nb\n", "fill 0: id is not 1 to 32 characters ended by a newline"),
    (patched(TWO, "<B", SIDE0, 2), "fill 0: side code 2 is not 0 (buy) or 1 (sell)"),
    (patched(TWO, "<B", STATUS0 + 1, 4), "fill 1: status code 4 is not 0 to 3"),
    (patched(TWO, "<B", STATUS0, 0), "fill 0: status unfilled does not match 10 of 10 Wh traded"),
    (patched(TWO, "<I", QTY0, 9), "fill 0: status filled does not match 9 of 10 Wh traded"),
    (patched(TWO, "<I", QTY0 + 4, 8), "fill 1: qty_wh 8 outside [0, order_wh 7]"),
    (patched(TWO, "<I", PRICE0 + 4, 2**31), "fill 1: price 2147483648 outside [0, 2147483647]"),
    (patched(TWO, "<I", ORDER0, 0), "fill 0: order_wh 0 outside [1, 2147483647]"),
    (patched(TWO, "<I", ORDER0, 2**31), "fill 0: order_wh 2147483648 outside [1, 2147483647]"),
    (patched(TWO, "<Q", SEQ0, 2**53), "fill 0: seq 9007199254740992 outside [0, 9007199254740991]"),
]


def test_bad_blocks_are_refused_as_the_edge_refuses_them(board):
    assert F.decode(TWO, 5) == [
        {"order": "5-3", "gw": "gw-1", "side": "sell", "qty_wh": 10, "status": "filled",
         "price": 100, "seq": 3, "order_wh": 10},
        {"order": "5-4", "gw": "b", "side": "buy", "qty_wh": 0, "status": "unfilled",
         "price": 90, "seq": 4, "order_wh": 7}]
    for blob, _ in BAD_BLOCKS:  # the edge's decoder refuses each one too
        with pytest.raises(F.FillsError):
            F.decode(blob, 5)
    got = decode_on_mp(board, [blob for blob, _ in BAD_BLOCKS], 5)
    assert got == [["error", text] for _, text in BAD_BLOCKS]


def result(rnd: int, rows: list[dict], **extra) -> dict:
    return {"v": 1, "type": "result", "site": SITE, "interval": IV, "round": rnd,
            "final": False, "ts": 5, "volume_wh": 10, "regime": "balanced", "price": 100,
            "fills": rows, **extra}


ROWS = [{k: v for k, v in r.items() if k != "order"} for r in F.decode(TWO, IV)]


def accept_on_mp(board, frames: list[bytes]) -> dict:
    """Downlink.accept of each frame on the result topic: ("ok", round) or (reason, text);
    then the result kept for IV, as the gateway holds it."""
    code = (
        "import json\nfrom binascii import unhexlify\nfrom gateway.downlink import Downlink\n"
        f"dl = Downlink({SITE!r}, {GW!r}, {TEST_EDGE_SIGNER!r})\nout = []\n"
        f"topic = 'site/{SITE}/market/{IV}/result'\n"
        f"for h in {json.dumps([f.hex() for f in frames])}:\n"
        "    try:\n"
        f"        kind, m = dl.accept(topic, unhexlify(h), {IV - 900})\n"
        "        out.append(['ok', m['round']])\n"
        "    except ValueError as e:\n"
        "        out.append([getattr(e, 'reason', 'error'), str(e)])\n"
        f"print(json.dumps({{'got': out, 'kept': dl.results.get({IV})}}))"
    )
    return json.loads(board.run(code).stdout.strip().splitlines()[-1])


def test_downlink_refuses_bad_frames_and_keeps_the_result_it_had(board):
    good = result(0, ROWS)
    block = fills_block(ROWS)
    assert block == TWO
    sha = hashlib.sha256(TWO).hexdigest()
    signed = sign_downlink(result_header(result(1, ROWS), TWO))
    changed = patched(TWO, "<I", PRICE0, 101)  # the block, not as signed
    forged = {**sign_downlink(result_header(result(1, ROWS), TWO), OTHER_SEED),
              "signer": TEST_EDGE_SIGNER}
    bad_block = patched(TWO, "<B", SIDE0, 2)
    cases = [
        (frame_of(signed, b"")[:-1], "bad",  # the header alone: no newline, no block
         "a result frame needs its header line, a newline and its fills block"),
        (frame_of(forged, TWO), "forged", "Ed25519 signature does not verify"),
        (frame_of({**signed, "round": 2}, TWO), "forged", "Ed25519 signature does not verify"),
        (frame_of(signed, changed), "bad", f"fills block SHA-256 "
         f"{hashlib.sha256(changed).hexdigest()} is not the signed fills_sha256 {sha}"),
        (result_frame(result(1, ROWS), fills_n=3), "bad",
         "fills block holds 2 fills, the signed fills_n says 3"),
        (result_frame(result(1, ROWS), block=TWO[:-1]), "bad",
         "fill 1: id is not 1 to 32 characters ended by a newline"),
        (result_frame(result(1, ROWS), block=TWO[:IDS - 1]), "bad",
         "a block of 2 fills cannot be 51 bytes"),
        (result_frame(result(1, ROWS), block=TWO[:IDS] + b"g/1\nb\n"), "bad",
         "fill 0: id holds a byte outside [A-Za-z0-9_.-]"),
        (result_frame(result(1, ROWS), block=bad_block), "bad",
         "fill 0: side code 2 is not 0 (buy) or 1 (sell)"),
        (result_frame(result(1, ROWS), block=patched(TWO, "<B", STATUS0 + 1, 7)), "bad",
         "fill 1: status code 7 is not 0 to 3"),
        (result_frame(result(1, ROWS), block=HUGE, fills_n=100_001), "bad",
         "100001 fills exceed the protocol's 100000 per result"),
        # the header: no fills of its own, a count and a hash
        (frame_of(sign_downlink({**result_header(result(1, ROWS), TWO), "fills": ROWS}), TWO),
         "bad", "result header must not carry fills (they come in the block)"),
        (result_frame(result(1, ROWS), fills_n=-1), "bad",
         "result fills_n must be a non-negative integer"),
        (result_frame(result(1, ROWS), fills_n=True), "bad",
         "result fills_n must be a non-negative integer"),
        (result_frame(result(1, ROWS), fills_sha256=sha.upper()), "bad",
         "result fills_sha256 must be 64 lowercase hex digits"),
        (b"{\n" + TWO, "bad", "not JSON"),
    ]
    frames = [result_frame(good)] + [f for f, _, _ in cases] + [result_frame(good)]
    got = accept_on_mp(board, frames)
    assert got["got"] == [["ok", 0]] + [[r, t] for _, r, t in cases] + [
        ["replay", f"result of interval {IV} round 0 is not newer than the one kept"]]
    # every bad frame left the round-0 result in place, with the rows the edge decodes
    kept = got["kept"]
    assert kept["round"] == 0 and kept["fills"] == F.decode(TWO, IV)
    assert (kept["fills_n"], kept["fills_sha256"]) == (2, sha)
    # and the next good round replaces it
    after = accept_on_mp(board, [result_frame(good), result_frame(result(1, ROWS[:1]))])
    assert after["got"] == [["ok", 0], ["ok", 1]]
    assert after["kept"]["fills"] == F.decode(TWO, IV)[:1]


def test_an_empty_book_is_a_frame_too(board):
    got = accept_on_mp(board, [result_frame(result(0, [], regime="no_trade"))])
    assert got["got"] == [["ok", 0]]
    assert got["kept"]["fills"] == [] and got["kept"]["fills_n"] == 0
    assert got["kept"]["fills_sha256"] == hashlib.sha256(b"FIL1\0\0\0\0").hexdigest()
