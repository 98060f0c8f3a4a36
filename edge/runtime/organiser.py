"""The market organiser's side of sealed bids: keys, announcements, admission, openings.

Where the site requires sealed bids (``market.sealed``), the market service
hands this module four duties (docs/market.md "Sealed bids", docs/edge.md):

- Keys. The organiser key of (interval, round) is derived, not stored:
  ``X25519 private = HMAC-SHA256(seed, site|interval|round)`` with ``seed =
  HKDF-SHA256(edge Ed25519 private key, info = "carbon-edge organiser keys
  v1")``. Each key is unpredictable to anyone without the edge key and
  independent of every other (HMAC is a PRF), so publishing one interval's
  private key after its gate reveals nothing about the next; and a restart
  finds the keys of the bids already in the inbox without a key file.
- Announcements. Round 0's key of every interval that accepts quotes (the
  next open one up to the quote horizon) and round k's key as soon as round
  k - 1 is published: a message signed with the edge key, published retained
  on ``site/{site}/market/{interval}/key`` and written on the chain.
- Admission (``refusal``): a plain-text bid is ``plaintext_bid``; a sealed
  bid must name the current key of its interval and round (``stale_key`` for
  any other announced key, ``unknown_key`` otherwise). Nothing is opened
  here: the commitment goes to the chain, the blob stays in the inbox.
- Openings (``open_round``), only once the round's gate has passed: every
  blob of the round is read back from the inbox, its hash checked against
  the commitment recorded at acceptance (``hash_mismatch``), then opened
  (``does_not_open``). Both refusals are counted and published with the
  result, and the round's private key with them, so anyone can redo it.

Opening is one X25519 agreement per bid, and ``cryptography`` holds the GIL
while it computes one (bench/bench_market.py: two threads open no faster
than one). ``workers`` > 1 therefore opens in a pool of that many worker
processes (spawned, not forked: the service has threads), started with the
organiser so the first round does not pay for their imports; each gets the
round's private key and a slice of the blobs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import multiprocessing
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edge.market import sealed
from edge.protocol import topics
from edge.protocol.codec import encode
from edge.protocol.identity import PrivateKey
from edge.protocol.messages import OrganiserKeyMessage
from edge.runtime.inbox import Inbox
from edge.runtime.intervals import Schedule

log = logging.getLogger("carbon_edge.market")

SEED_INFO = b"carbon-edge organiser keys v1"
#: below this many bids the worker processes cost more than they save
POOL_FROM = 256


def organiser_seed(edge_key: PrivateKey) -> bytes:
    raw = edge_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEED_INFO).derive(raw)


def derive_key(seed: bytes, site: str, interval: int, round_no: int) -> sealed.OrganiserKey:
    """The organiser key of (interval, round): HMAC-SHA256(seed, site|interval|round)."""
    raw = hmac.new(seed, b"%s|%d|%d" % (site.encode(), interval, round_no),
                   hashlib.sha256).digest()
    return sealed.OrganiserKey.from_private_bytes(interval, round_no, raw)


@dataclass(frozen=True)
class Opened:
    """One sealed bid of a round after its opening: the quote, or the reason it is refused."""

    raw: Mapping[str, Any]
    commitment: str
    price: int | None = None
    qty_wh: int | None = None
    reason: str | None = None


def open_one(blob_hex: str, committed: str, key: sealed.OrganiserKey,
             gw: str) -> tuple[int, int] | str:
    """(price, qty_wh), or the reason code: the blob must be the committed one and open."""
    blob = bytes.fromhex(blob_hex)
    if sealed.commitment(blob) != committed:
        return sealed.HASH_MISMATCH
    try:
        return sealed.open_bid(blob, key, gw)
    except sealed.SealedBidError as exc:
        return exc.reason


def open_chunk(private: bytes, interval: int, round_no: int,
               items: Sequence[tuple[str, str, str]]) -> list[tuple[int, int] | str]:
    """``open_one`` over a slice of a round's bids (in a worker process: the key as bytes)."""
    key = sealed.OrganiserKey.from_private_bytes(interval, round_no, private)
    return [open_one(b, c, key, g) for b, c, g in items]


def _warm() -> None:
    """Nothing: a worker process has imported this module (and cryptography) once it ran."""


class Organiser:
    def __init__(self, site: str, edge_key: PrivateKey, schedule: Schedule, inbox: Inbox,
                 publish: Callable[[str, bytes, bool], None], workers: int = 1) -> None:
        self.site = site
        self.edge_key = edge_key
        self.schedule = schedule
        self.inbox = inbox
        self.publish = publish
        self.workers = workers
        self._seed = organiser_seed(edge_key)
        self._keys: dict[tuple[int, int], sealed.OrganiserKey] = {}
        #: kid -> key of every key announced and not yet forgotten (tells stale from unknown)
        self.known: dict[str, sealed.OrganiserKey] = {}
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1:
            self._pool = ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"))
            for f in [self._pool.submit(_warm) for _ in range(workers)]:
                f.result()

    def key(self, interval: int, round_no: int) -> sealed.OrganiserKey:
        k = self._keys.get((interval, round_no))
        if k is None:
            k = self._keys[(interval, round_no)] = derive_key(self._seed, self.site, interval,
                                                              round_no)
        return k

    # -- announcements -------------------------------------------------------------
    def announce(self, interval: int, round_no: int, now_ms: int) -> dict[str, Any]:
        """Publish the key of (interval, round), retained, and write it on the chain."""
        k = self.key(interval, round_no)
        msg = sealed.announcement(self.site, k, self.edge_key, now_ms)
        OrganiserKeyMessage.model_validate(msg)  # our own output obeys the protocol
        self.inbox.pending.add([msg], self.inbox.db.clock.wall_ms(),
                               Counter({"organiser_keys": 1}))
        self.known[k.kid] = k
        self.publish(topics.organiser_key(self.site, interval), encode(msg), True)
        log.info("organiser key", extra={"interval": interval, "round": round_no,
                                         "kid": k.kid})
        return msg

    def announce_ahead(self, now_s: float, now_ms: int) -> None:
        """Round 0's key of every interval that takes first quotes now, each announced once."""
        s = self.schedule
        done = int(self.inbox.meta("organiser_announced_until") or 0)
        last = s.start_of(now_s) + s.horizon * s.interval_s
        t = max(s.next_open(now_s), done + s.interval_s)
        while t <= last:
            self.announce(t, 0, now_ms)
            self.inbox.set_meta("organiser_announced_until", str(t))
            t += s.interval_s

    def republish(self, interval: int, round_no: int) -> None:
        """After a restart: the retained key of a round still open, again (idempotent)."""
        k = self.key(interval, round_no)
        self.known[k.kid] = k
        msg = sealed.announcement(self.site, k, self.edge_key, self.inbox.db.clock.wall_ms())
        self.publish(topics.organiser_key(self.site, interval), encode(msg), True)

    def recover(self, now_s: float, rounds: Mapping[int, int]) -> None:
        """Know again the keys announced before a restart: round 0 of every interval from
        four back to the horizon, and rounds up to ``rounds[interval]`` (the next round)."""
        s = self.schedule
        t = s.start_of(now_s) - 4 * s.interval_s
        last = int(self.inbox.meta("organiser_announced_until") or 0)
        while t <= last:
            for r in range(rounds.get(t, 0) + 1):
                k = self.key(t, r)
                self.known[k.kid] = k
            t += s.interval_s

    def forget_before(self, interval: int) -> None:
        for k in [k for k in self._keys if k[0] < interval]:
            self.known.pop(self._keys.pop(k).kid, None)

    # -- admission -------------------------------------------------------------------
    def refusal(self, raw: Mapping[str, Any]) -> str | None:
        """Why a bid is refused at a sealed site (a reason code), or None to take it."""
        try:
            sealed.require_sealed(raw, True)
            sealed.check_key(raw["kid"], self.key(raw["interval"], raw.get("round", 0)),
                             self.known)
        except sealed.SealedBidError as exc:
            return exc.reason
        return None

    # -- openings ---------------------------------------------------------------------
    def open_round(self, interval: int, round_no: int, count: bool = True) -> list[Opened]:
        """Every sealed bid of (interval, round) from the inbox, checked and opened, in
        acceptance order. Call only once the round's gate has passed (``count``: False when
        a restart opens a round again)."""
        key = self.key(interval, round_no)
        rows = self.inbox.messages.sealed_bids(interval, round_no)
        results = self.open_many([(r["sealed"], c, r["gw"]) for r, c in rows], key)
        out = []
        counts: Counter[str] = Counter()
        for (raw, c), got in zip(rows, results, strict=True):
            if isinstance(got, str):
                counts[f"rejected:{got}"] += 1
                log.warning("sealed bid refused at opening", extra={
                    "gw": raw["gw"], "interval": interval, "round": round_no, "reason": got})
                out.append(Opened(raw, c, reason=got))
            else:
                out.append(Opened(raw, c, got[0], got[1]))
        counts["sealed_opened"] += len(out) - sum(1 for o in out if o.reason)
        if count:
            self.inbox.count(counts)
        return out

    def open_many(self, items: Sequence[tuple[str, str, str]], key: sealed.OrganiserKey
                  ) -> list[tuple[int, int] | str]:
        """Open (blob hex, commitment, gw) items with ``key``, in the worker processes when
        there are many (results in the items' order)."""
        if self._pool is None or len(items) < POOL_FROM:
            return [open_one(b, c, key, g) for b, c, g in items]
        n = -(-len(items) // self.workers)
        chunks = [list(items[i:i + n]) for i in range(0, len(items), n)]
        parts = self._pool.map(open_chunk, [key.private_bytes] * len(chunks),
                               [key.interval] * len(chunks), [key.round] * len(chunks), chunks)
        return [r for part in parts for r in part]

    def opening(self, interval: int, round_no: int, opened: Sequence[Opened]) -> dict[str, Any]:
        """The ``sealed`` part of the round's result: the private key and every opening."""
        k = self.key(interval, round_no)
        return {
            "round": round_no, "kid": k.kid, "private": k.private_bytes.hex(),
            "opened": [{"gw": o.raw["gw"], "seq": o.raw["seq"], "round": round_no,
                        "blob": o.raw["sealed"], "commitment": o.commitment,
                        "price": o.price, "qty_wh": o.qty_wh}
                       for o in opened if o.reason is None],
            "refused": [{"gw": o.raw["gw"], "seq": o.raw["seq"], "reason": o.reason,
                         "commitment": o.commitment} for o in opened if o.reason is not None],
        }

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
