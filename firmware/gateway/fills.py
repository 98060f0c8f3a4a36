"""The fills block of a result frame, decoded into the rows policy.py and bidding.py read.

The edge publishes a round's result as its signed header line, one newline
and a binary block of fill columns (edge/protocol/fills.py is the
reference; docs/firmware.md "Downlink trust"). The header commits to the
block by its SHA-256 (`fills_sha256`, `digest` here), so a verified header
vouches for the block; the decoder still bounds every value, because the
rows feed the gateway's trial clearing and a board has little heap.

Layout (little-endian), for n fills: b"FIL1", u32 n; n u64 seq; n u32
price; n u32 order_wh; n u32 qty_wh; n u8 side (0 buy, 1 sell); n u8 status
(0 unfilled, 1 partial, 2 filled, 3 excluded); n ids, each
[A-Za-z0-9_.-]{1,32} and a newline. A decoded row is the edge's
(`edge.protocol.fills.decode`): order ("interval-seq"), gw, side, qty_wh,
status, price, seq, order_wh.

Every function takes the block as `buf[start:]`, so the gateway decodes it
inside the received frame without a second copy of it.
"""

import hashlib
import struct
from binascii import hexlify

MAGIC = b"FIL1"
#: the most fills one result carries (edge.protocol.fills.MAX_FILLS)
MAX_FILLS = 100000
MAX_PRICE = (1 << 31) - 1
MAX_QTY_WH = (1 << 31) - 1
MAX_SEQ = (1 << 53) - 1
SIDES = ("buy", "sell")
STATUSES = ("unfilled", "partial", "filled", "excluded")
HEAD = 8
#: bytes per fill before its id: seq, price, order_wh, qty_wh, side, status
FIXED = 8 + 4 + 4 + 4 + 1 + 1
MAX_ID = 32

# the bytes an Id may hold, as a lookup table (the ports' `re` differ; this is exact)
_ID_BYTE = bytearray(256)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-":
    _ID_BYTE[_c] = 1


def digest(buf, start=0):
    """`fills_sha256` of the block buf[start:]: 64 lowercase hex digits."""
    return hexlify(hashlib.sha256(memoryview(buf)[start:]).digest()).decode()


def count(buf, start=0):
    """The number of fills the block buf[start:] says it holds; ValueError without its magic."""
    if len(buf) - start < HEAD or buf[start:start + 4] != MAGIC:
        raise ValueError("not a fills block (magic FIL1 missing)")
    return struct.unpack_from("<I", buf, start + 4)[0]


def _ids(buf, at, n):
    """The n ids from buf[at:], each ended by a newline, nothing after the last."""
    ids = []
    for i in range(n):
        end = buf.find(b"\n", at, at + MAX_ID + 1)
        if end <= at:
            raise ValueError("fill %d: id is not 1 to %d characters ended by a newline"
                             % (i, MAX_ID))
        for k in range(at, end):
            if not _ID_BYTE[buf[k]]:
                raise ValueError("fill %d: id holds a byte outside [A-Za-z0-9_.-]" % i)
        ids.append(buf[at:end].decode())
        at = end + 1
    if at != len(buf):
        raise ValueError("%d bytes after the block's %d ids" % (len(buf) - at, n))
    return ids


def _check(i, seq, price, order_wh, qty, side, status):
    if seq > MAX_SEQ:
        raise ValueError("fill %d: seq %d outside [0, %d]" % (i, seq, MAX_SEQ))
    if price > MAX_PRICE:
        raise ValueError("fill %d: price %d outside [0, %d]" % (i, price, MAX_PRICE))
    if not 1 <= order_wh <= MAX_QTY_WH:
        raise ValueError("fill %d: order_wh %d outside [1, %d]" % (i, order_wh, MAX_QTY_WH))
    if qty > order_wh:
        raise ValueError("fill %d: qty_wh %d outside [0, order_wh %d]" % (i, qty, order_wh))
    if side > 1:
        raise ValueError("fill %d: side code %d is not 0 (buy) or 1 (sell)" % (i, side))
    if status > 3:
        raise ValueError("fill %d: status code %d is not 0 to 3" % (i, status))
    if (status == 2) != (qty == order_wh) or (status == 1) != (0 < qty < order_wh):
        raise ValueError("fill %d: status %s does not match %d of %d Wh traded"
                         % (i, STATUSES[status], qty, order_wh))


def decode(buf, interval, start=0):
    """The fill rows of the block buf[start:]; ValueError says what is wrong.

    Hostile input: the count is checked against MAX_FILLS and the block's
    length before anything is made for it; the ids are checked before the
    rows are built. (The integers are unsigned by the layout: no lower bounds.)
    """
    n = count(buf, start)
    if n > MAX_FILLS:
        raise ValueError("%d fills exceed the protocol's %d per result" % (n, MAX_FILLS))
    size = len(buf) - start
    ids_at = HEAD + n * FIXED
    # each id is 2 to 33 bytes with its newline
    if not ids_at + 2 * n <= size <= ids_at + (MAX_ID + 1) * n:
        raise ValueError("a block of %d fills cannot be %d bytes" % (n, size))
    ids = _ids(buf, start + ids_at, n)
    seq_at = start + HEAD
    price_at = seq_at + 8 * n
    order_at = price_at + 4 * n
    qty_at = order_at + 4 * n
    side_at = qty_at + 4 * n
    status_at = side_at + n
    out = []
    for i in range(n):
        seq = struct.unpack_from("<Q", buf, seq_at + 8 * i)[0]
        price = struct.unpack_from("<I", buf, price_at + 4 * i)[0]
        order_wh = struct.unpack_from("<I", buf, order_at + 4 * i)[0]
        qty = struct.unpack_from("<I", buf, qty_at + 4 * i)[0]
        side, status = buf[side_at + i], buf[status_at + i]
        _check(i, seq, price, order_wh, qty, side, status)
        out.append({"order": "%d-%d" % (interval, seq), "gw": ids[i], "side": SIDES[side],
                    "qty_wh": qty, "status": STATUSES[status], "price": price, "seq": seq,
                    "order_wh": order_wh})
    return out
