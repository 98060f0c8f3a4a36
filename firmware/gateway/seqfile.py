"""A monotonic counter that survives restarts and crashes without reuse.

The file holds an upper bound: numbers below it may have been used. On start
we continue from the bound; while running we reserve `block` numbers ahead
with one atomic write, so a crash costs at most a gap (which the receiver
sees, as with Sparkplug's seq) and never a repeated number.
"""

from gateway.fsutil import read_or, write_atomic


class PersistentCounter:
    def __init__(self, path, block=100):
        self.path = path
        self.block = block
        raw = read_or(path, b"0").strip()
        try:
            self.next = int(raw)
        except ValueError:
            raise ValueError("sequence file %s is corrupt (%r): refusing to restart at 0"
                             % (path, raw[:20]))
        self.reserved = self.next
        self.writes = 0

    def take(self):
        if self.next >= self.reserved:
            self.reserved = self.next + self.block
            write_atomic(self.path, str(self.reserved).encode())
            self.writes += 1
        n = self.next
        self.next += 1
        return n
