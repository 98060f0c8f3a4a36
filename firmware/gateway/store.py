"""Store-and-forward queue: bounded, on flash, append-only segments, acked by PUBACK.

Layout in the queue directory:
  NNNNNNNN.q  a segment: one record per line, "<crc32 hex8> <message JSON>\\n"
  NNNNNNNN.a  its acknowledgements: one byte appended per PUBACK, in order
A record is deleted only after its PUBACK (the whole segment goes once every
record in it is acked and it is no longer the one being written). Appends
and acks are single writes, so a kill leaves at worst a torn last line,
which the next start detects by its CRC and cuts off (counted).

When full (`max_bytes`), the oldest segments are compacted: bids of intervals
already closed, then the oldest telemetry, are dropped (counted per kind);
bids of the open interval are never dropped and may use a 10 % reserve above
the limit. A new telemetry record that still does not fit is refused (counted).
Compaction rewrites a segment as "its acked lines unchanged + the kept
unacked lines" and renames it into place, so its ack file stays valid.
"""

import json
import os
from binascii import crc32

from gateway.fsutil import exists, makedirs, remove, size, write_atomic


def _line(payload):
    return b"%08x " % (crc32(payload) & 0xFFFFFFFF) + payload + b"\n"


def _check(line):
    """Payload of a stored line, or None if torn or corrupt."""
    if len(line) < 11 or line[-1:] != b"\n" or line[8:9] != b" ":
        return None
    payload = line[9:-1]
    try:
        if int(line[:8], 16) != crc32(payload) & 0xFFFFFFFF:
            return None
    except ValueError:
        return None
    return payload


class Segment:
    def __init__(self, d, idx):
        self.idx = idx
        self.path = "%s/%08d.q" % (d, idx)
        self.apath = "%s/%08d.a" % (d, idx)
        self.n = 0
        self.acked = 0
        self.bytes = 0


class Queue:
    def __init__(self, directory, max_bytes=256 * 1024, seg_records=64, counters=None):
        self.dir = directory
        self.max_bytes = max_bytes
        self.seg_records = seg_records
        self.c = counters if counters is not None else {}
        makedirs(directory)
        self.segs = []
        self._reader = None  # (segment idx, next record number, file)
        self._load()

    # ---------------------------------------------------------------- start-up
    def _load(self):
        names = sorted(n for n in os.listdir(self.dir) if n.endswith(".q"))
        for name in names:
            seg = Segment(self.dir, int(name[:8]))
            good = []
            torn = False
            with open(seg.path, "rb") as f:
                while True:
                    line = f.readline()
                    if not line:
                        break
                    if _check(line) is None:
                        torn = True
                        break
                    good.append(len(line))
            if torn:
                self._bump("q_torn")
                with open(seg.path, "rb") as f:
                    keep = f.read(sum(good))
                write_atomic(seg.path, keep)
            seg.n = len(good)
            seg.bytes = sum(good)
            seg.acked = min(size(seg.apath), seg.n)
            if seg.acked >= seg.n:
                remove(seg.path)  # fully delivered before the restart
                remove(seg.apath)
                continue
            self.segs.append(seg)
        for name in os.listdir(self.dir):  # leftovers of an interrupted rewrite
            if name.endswith(".tmp") or (name.endswith(".a") and not exists(
                    self.dir + "/" + name[:-2] + ".q")):
                remove(self.dir + "/" + name)

    def _bump(self, name, n=1):
        self.c[name] = self.c.get(name, 0) + n

    # ---------------------------------------------------------------- state
    @property
    def total_bytes(self):
        return sum(s.bytes for s in self.segs)

    def pending(self):
        return sum(s.n - s.acked for s in self.segs)

    # ---------------------------------------------------------------- append
    def append(self, payload, kind="telemetry", interval=None, open_interval=None, busy=False):
        """Persist one message (bytes). False when refused because the queue is full.

        busy: records are in flight, so nothing may be compacted now.
        """
        line = _line(payload)
        limit = self.max_bytes + (self.max_bytes // 10 if kind == "bid" else 0)
        if self.total_bytes + len(line) > limit:
            self._make_room(self.total_bytes + len(line) - self.max_bytes, open_interval, busy)
            if self.total_bytes + len(line) > limit:
                self._bump("q_refused_" + kind)
                return False
        seg = self.segs[-1] if self.segs else None
        if seg is None or seg.n >= self.seg_records:
            seg = Segment(self.dir, (seg.idx + 1) if seg else self._next_idx())
            self.segs.append(seg)
        with open(seg.path, "ab") as f:
            f.write(line)
        seg.n += 1
        seg.bytes += len(line)
        return True

    def _next_idx(self):
        return 1

    def _make_room(self, need, open_interval, busy):
        if busy:
            return  # records in flight keep their positions; full while online is refused
        for pass_ in ("old_bids", "telemetry"):
            for seg in list(self.segs):
                if need <= 0:
                    return
                need -= self._compact(seg, pass_, open_interval)

    def _compact(self, seg, what, open_interval):
        """Drop unacked records of `what` from seg; returns the bytes freed."""
        kept = []
        dropped = 0
        with open(seg.path, "rb") as f:
            i = 0
            while True:
                line = f.readline()
                if not line:
                    break
                if i >= seg.acked:
                    msg = json.loads(line[9:-1])
                    t = msg.get("type")
                    if what == "telemetry" and t == "telemetry":
                        dropped += 1
                        self._bump("q_drop_telemetry")
                        i += 1
                        continue
                    if (what == "old_bids" and t == "bid" and open_interval is not None
                            and msg.get("interval", 0) < open_interval):
                        dropped += 1
                        self._bump("q_drop_old_bid")
                        i += 1
                        continue
                kept.append(line)
                i += 1
        if not dropped:
            return 0
        self._close_reader()
        data = b"".join(kept)
        freed = seg.bytes - len(data)
        write_atomic(seg.path, data)
        seg.n = len(kept)
        seg.bytes = len(data)
        if seg.acked >= seg.n and seg is not self.segs[-1]:
            self._drop_segment(seg)
        return freed

    def _drop_segment(self, seg):
        remove(seg.path)
        remove(seg.apath)
        self.segs.remove(seg)

    # ---------------------------------------------------------------- delivery
    def read(self, pos):
        """Payload at position `pos` (0 = oldest unacked), or None past the end."""
        for seg in self.segs:
            left = seg.n - seg.acked
            if pos < left:
                return self._read_at(seg, seg.acked + pos)
            pos -= left
        return None

    def _read_at(self, seg, rec):
        r = self._reader
        if r is None or r[0] != seg.idx or r[1] > rec:
            if r is not None:
                r[2].close()
            f = open(seg.path, "rb")
            r = [seg.idx, 0, f]
            self._reader = r
        while r[1] < rec:
            r[2].readline()
            r[1] += 1
        line = r[2].readline()
        r[1] += 1
        return _check(line)

    def ack_head(self):
        """The oldest unacked record was delivered: persist that, free what is done."""
        seg = self.segs[0]
        with open(seg.apath, "ab") as f:
            f.write(b"+")
        seg.acked += 1
        if seg.acked >= seg.n and (len(self.segs) > 1 or seg.n >= self.seg_records):
            if self._reader is not None and self._reader[0] == seg.idx:
                self._close_reader()
            self._drop_segment(seg)

    def _close_reader(self):
        if self._reader is not None:
            self._reader[2].close()
            self._reader = None
