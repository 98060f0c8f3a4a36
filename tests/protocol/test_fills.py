"""edge.protocol.fills: the block against a struct oracle written here, every refusal of the
decoder, and the result frame (header line + block) with its count and hash checks.

The oracle packs the layout of the module's docstring field by field with ``struct`` and
checks nothing, so it also makes the malformed blocks the decoder must refuse.
"""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.protocol import fills
from edge.protocol.fills import MAX_FILLS, FillsError

ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
SIDE = ("buy", "sell")
STATUS = ("unfilled", "partial", "filled", "excluded")


def oracle(rows, n=None, magic=b"FIL1") -> bytes:
    """The block of ``rows`` (seq, price, order_wh, qty_wh, side, status, id), unchecked."""
    n = len(rows) if n is None else n
    out = [magic, struct.pack("<I", n)]
    for col, fmt in ((0, "<Q"), (1, "<I"), (2, "<I"), (3, "<I"), (4, "<B"), (5, "<B")):
        out += [struct.pack(fmt, r[col]) for r in rows]
    out += [r[6].encode("utf-8") + b"\n" for r in rows]
    return b"".join(out)


def columns(rows):
    """The encoder's arguments for ``rows``."""
    if not rows:
        return ([],) * 7
    return tuple(list(c) for c in zip(*rows, strict=True))


def status_of(qty: int, order_wh: int, excluded: bool) -> int:
    if qty == order_wh:
        return 2
    if qty:
        return 1
    return 3 if excluded else 0


@st.composite
def a_row(draw):
    order_wh = draw(st.integers(1, 2**31 - 1))
    qty = draw(st.one_of(st.just(0), st.just(order_wh), st.integers(0, order_wh)))
    return (draw(st.integers(0, 2**53 - 1)), draw(st.integers(0, 2**31 - 1)), order_wh, qty,
            draw(st.integers(0, 1)), status_of(qty, order_wh, draw(st.booleans())),
            draw(st.text(ID_CHARS, min_size=1, max_size=32)))


GOOD = [(7, 90_000, 10, 10, 1, 2, "gw-01"), (8, 95_000, 20, 5, 0, 1, "gw.02"),
        (2**53 - 1, 2**31 - 1, 2**31 - 1, 0, 1, 0, "G_" * 16), (0, 0, 1, 0, 0, 3, "x")]


@settings(max_examples=200, deadline=None)
@given(st.lists(a_row(), max_size=40))
def test_encode_is_the_oracle_and_decode_gives_the_rows_back(rows):
    blob = fills.encode(*columns(rows))
    assert blob == oracle(rows)
    assert len(blob) == 8 + 22 * len(rows) + sum(len(r[6]) + 1 for r in rows)
    assert fills.count(blob) == len(rows)
    got = fills.decode(blob, 1_700_000_100)
    assert got == [{"order": f"1700000100-{r[0]}", "gw": r[6], "side": SIDE[r[4]],
                    "qty_wh": r[3], "status": STATUS[r[5]], "price": r[1], "seq": r[0],
                    "order_wh": r[2]} for r in rows]


def test_a_known_block_byte_for_byte():
    """Two fills written out by hand: the layout, not just agreement with the oracle."""
    blob = fills.encode(*columns(GOOD[:2]))
    assert blob == (b"FIL1" b"\x02\x00\x00\x00"
                    b"\x07\x00\x00\x00\x00\x00\x00\x00" b"\x08\x00\x00\x00\x00\x00\x00\x00"
                    b"\x90\x5f\x01\x00" b"\x18\x73\x01\x00"
                    b"\x0a\x00\x00\x00" b"\x14\x00\x00\x00"
                    b"\x0a\x00\x00\x00" b"\x05\x00\x00\x00"
                    b"\x01\x00" b"\x02\x01" b"gw-01\ngw.02\n")
    assert fills.encode(*columns([])) == b"FIL1\0\0\0\0"
    assert fills.decode(b"FIL1\0\0\0\0", 0) == []


def decode_error(blob: bytes) -> str:
    with pytest.raises(FillsError) as info:
        fills.decode(blob, 900)
    return str(info.value)


@pytest.mark.parametrize(("blob", "match"), [
    (b"", "magic FIL1 missing"),
    (b"FIL", "magic FIL1 missing"),
    (oracle(GOOD, magic=b"FIL2"), "magic FIL1 missing"),
    (oracle(GOOD, magic=b"fil1"), "magic FIL1 missing"),
    (struct.pack("<4sI", b"FIL1", MAX_FILLS + 1), f"{MAX_FILLS + 1} fills exceed"),
    (struct.pack("<4sI", b"FIL1", 2**32 - 1), f"{2**32 - 1} fills exceed"),
    (oracle(GOOD, n=100), "a block of 100 fills cannot be 143 bytes"),  # too short
    (oracle(GOOD)[:8 + 22 * 4 + 7], "a block of 4 fills cannot be 103 bytes"),
    (oracle(GOOD)[:8 + 22 * 3], "a block of 4 fills cannot be 74 bytes"),
    (oracle(GOOD, n=1), "a block of 1 fills cannot be 143 bytes"),  # too long
    (oracle(GOOD) + b"x" * (33 * 4), "a block of 4 fills cannot be"),
    (oracle([]) + b"\n", "a block of 0 fills cannot be"),
    (oracle(GOOD)[:-1], "not n Ids"),  # the last id lacks its newline
    (oracle(GOOD) + b"a\n", "not n Ids"),  # one id too many
])
def test_decode_refuses_malformed_blocks(blob, match):
    assert match in decode_error(blob)


@pytest.mark.parametrize("bad", ["a b", "a\tb", "é", "a/b", "a" * 33, "", "a,b", "a\rb"])
def test_decode_refuses_ids_that_are_not_protocol_ids(bad):
    rows = [GOOD[0], (*GOOD[1][:6], bad), GOOD[2]]
    assert "not n Ids" in decode_error(oracle(rows))


def test_decode_refuses_an_id_with_non_ascii_bytes_and_an_empty_one():
    rows = [GOOD[0], GOOD[1]]
    blob = oracle(rows)
    assert "not n Ids" in decode_error(blob.replace(b"gw.02\n", b"gw\xff2\n"))
    assert "not n Ids" in decode_error(blob.replace(b"gw.02\n", b"\n"))
    assert "not n Ids" in decode_error(blob.replace(b"gw-01\ngw.02\n", b"gw-01gw.02\n\n"))


@pytest.mark.parametrize(("field", "value", "match"), [
    (0, 2**53, "fill 1: seq 9007199254740992 outside [0, 9007199254740991]"),
    (0, 2**64 - 1, "fill 1: seq 18446744073709551615 outside"),
    (1, 2**31, "fill 1: price 2147483648 outside [0, 2147483647]"),
    (1, 2**32 - 1, "fill 1: price 4294967295 outside"),
    (2, 0, "fill 1: order_wh 0 outside [1, 2147483647]"),
    (2, 2**31, "fill 1: order_wh 2147483648 outside"),
    (3, 21, "fill 1: qty_wh 21 outside [0, order_wh 20]"),
    (3, 2**32 - 1, "fill 1: qty_wh 4294967295 outside"),
    (4, 2, "fill 1: side code 2 is not 0 (buy) or 1 (sell)"),
    (4, 255, "fill 1: side code 255"),
    (5, 4, "fill 1: status code 4 is not 0 to 3"),
    (5, 255, "fill 1: status code 255"),
    (5, 2, "fill 1: status filled does not match 5 of 20 Wh traded"),
    (5, 0, "fill 1: status unfilled does not match 5 of 20 Wh traded"),
    (5, 3, "fill 1: status excluded does not match 5 of 20 Wh traded"),
])
def test_decode_bounds_every_value_and_names_the_fill(field, value, match):
    """Each value out of the protocol's range, and a status that does not match the traded
    energy, is refused naming the fill (the second, here); the encoder refuses it alike."""
    row = list(GOOD[1])
    row[field] = value
    rows = [GOOD[0], tuple(row), GOOD[2]]
    assert match in decode_error(oracle(rows))
    with pytest.raises(FillsError, match="fill 1: "):
        fills.encode(*columns(rows))


@pytest.mark.parametrize(("qty", "order_wh", "status"), [
    (0, 10, 1), (0, 10, 2), (10, 10, 0), (10, 10, 1), (10, 10, 3), (4, 10, 0), (4, 10, 3),
])
def test_a_status_must_match_what_was_traded(qty, order_wh, status):
    rows = [(1, 5, order_wh, qty, 0, status, "a")]
    assert "fill 0: status" in decode_error(oracle(rows))


def test_encode_refuses_what_it_cannot_write():
    seq, price, order_wh, qty, side, status, ids = columns(GOOD)
    with pytest.raises(FillsError, match="differ in length"):
        fills.encode(seq, price[:-1], order_wh, qty, side, status, ids)
    with pytest.raises(FillsError, match="differ in length"):
        fills.encode(seq, price, order_wh, qty, side, status, ids[:-1])
    for bad in ("a b", "é", "a" * 33, "", "a\nb", "\u2603"):
        with pytest.raises(FillsError, match="not an Id"):
            fills.encode(seq, price, order_wh, qty, side, status, [*ids[:-1], bad])
    for at, value in ((0, -1), (1, -1), (3, -1)):
        cols = [list(c) for c in columns(GOOD)]
        cols[at][2] = value
        with pytest.raises(FillsError, match="fill 2: "):
            fills.encode(*cols)
    n = MAX_FILLS + 1
    with pytest.raises(FillsError, match=f"{n} fills exceed"):
        fills.encode([0] * n, [0] * n, [1] * n, [0] * n, [0] * n, [0] * n, ["a"] * n)


@pytest.mark.parametrize("at", [0, 1, 2, 3])
def test_encode_refuses_a_float_naming_the_fill(at):
    cols = [list(c) for c in columns(GOOD)]
    cols[at][1] = float(cols[at][1])
    with pytest.raises(FillsError, match="fill 1: "):
        fills.encode(*cols)


def test_the_largest_block_decodes():
    n = MAX_FILLS
    rows = [(i, i % 2**31, 7, 7 * (i % 2), i % 2, 2 if i % 2 else 3, f"g{i}") for i in range(n)]
    blob = oracle(rows)
    assert fills.encode(*columns(rows)) == blob
    got = fills.decode(blob, 5)
    assert len(got) == n and got[-1] == {"order": f"5-{n - 1}", "gw": f"g{n - 1}",
                                         "side": "sell", "qty_wh": 7, "status": "filled",
                                         "price": n - 1, "seq": n - 1, "order_wh": 7}


# -- the result frame -------------------------------------------------------------------

def header(blob: bytes, **over) -> dict:
    h = {"v": 1, "type": "result", "interval": 900, "fills_n": fills.count(blob),
         "fills_sha256": hashlib.sha256(blob).hexdigest(), "sig": "0" * 128}
    h.update(over)
    return {k: v for k, v in h.items() if v is not ...}


def line(h: dict) -> bytes:
    return json.dumps(h, sort_keys=True, separators=(",", ":")).encode()


def test_frame_split_and_read():
    blob = oracle(GOOD)
    assert fills.digest(blob) == hashlib.sha256(blob).hexdigest()
    h = header(blob)
    payload = fills.frame(line(h), blob)
    assert payload == line(h) + b"\n" + blob
    assert fills.split(payload) == (line(h), blob)  # the block's own newlines stay in it
    got = fills.read(payload)
    assert got == {**h, "fills": fills.decode(blob, 900)}
    assert [f["order"] for f in got["fills"]] == ["900-7", "900-8", f"900-{2**53 - 1}", "900-0"]
    empty = oracle([])
    assert fills.read(fills.frame(line(header(empty)), empty))["fills"] == []


def read_error(payload: bytes) -> str:
    with pytest.raises(FillsError) as info:
        fills.read(payload)
    return str(info.value)


def test_read_checks_the_block_against_the_header():
    blob = oracle(GOOD)
    other = oracle(GOOD[:3])
    assert "needs its header line" in read_error(line(header(blob)))
    with pytest.raises(FillsError, match="needs its header line"):
        fills.split(b"no newline at all")
    assert "not JSON" in read_error(b"{not json\n" + blob)
    assert "object without fills" in read_error(b"[1,2]\n" + blob)
    assert "object without fills" in read_error(fills.frame(line(header(blob, fills=[])), blob))
    assert "fills_sha256" in read_error(fills.frame(line(header(blob)), other))
    assert "fills_sha256" in read_error(fills.frame(line(header(blob, fills_sha256=...)), blob))
    wrong_n = header(blob, fills_n=3)
    assert "fills_n" in read_error(fills.frame(line(wrong_n), blob))
    assert "fills_n" in read_error(fills.frame(line(header(blob, fills_n=...)), blob))
    flipped = bytearray(blob)
    flipped[-2] ^= 1  # the hash catches any change
    assert "fills_sha256" in read_error(fills.frame(line(header(blob)), bytes(flipped)))
    # a block that matches its header but does not decode is still refused by decode
    bad = oracle([(1, 5, 10, 3, 0, 2, "a")])
    assert "fill 0: status" in read_error(fills.frame(line(header(bad)), bad))
    no_block = header(blob, fills_n=0, fills_sha256=hashlib.sha256(b"").hexdigest())
    assert "magic FIL1 missing" in read_error(fills.frame(line(no_block), b""))
