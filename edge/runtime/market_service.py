"""The local market on the clock: books per interval, rounds, signed results, settlements.

State is never kept only in memory: every accepted bid is in the inbox and
every published round is in the results table, so the books and the round
reached are rebuilt from those two after a restart (``recover``), and the
open interval simply carries on. A book's history is folded in acceptance
order (the inbox id), which reproduces the order numbers exactly.

Rounds (P5, schedule in ``intervals``): each interval's market is one
``edge.market.rounds.IntervalRounds``, the same state machine that
``carbon-edge market rounds`` drives: round 0 clears the book at gate
closure; after each published round the participants may revise their
quotes (a bid with ``round = k`` for the next round ``k``: a new price and
quantity, same side, the original order number); round ``k`` clears at its
due time if a quote changed, otherwise round ``k - 1`` is republished as
final. The round limit's last round is final. Clearing goes through the PL dispatcher
(any object with ``clear_uniform``); carbon adders and the carbon intensity
come from the hub's newest price signal valid for the interval.

Price signals are the market's input from the hub: ``take_prices`` stores
each verified signal once (with its chain transaction) and relays the new
ones to the gateways on the retained price topic, since the gateways quote
with the same adders the market applies. The relayed copy is signed by the
edge, the one key the gateways trust.

Sealed bids (``market.sealed``): an ``edge.runtime.organiser.Organiser``
announces the keys, refuses plain or wrongly keyed bids at admission, and
opens each round's sealed bids from the inbox only when the round clears;
the opened quotes enter the book in acceptance order (so order numbers are
those of plain bids) and the round's result carries the openings and the
round's private key.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from pydantic import TypeAdapter

from edge.chain.keys import PrivateKey
from edge.clock import SYSTEM, Clock
from edge.market.book import BookError, apply_adders
from edge.market.clearing import Clearing, Order
from edge.market.fillblock import fill_block
from edge.market.rounds import IntervalRounds, RoundRefused
from edge.market.settlement import settle_traded
from edge.protocol import topics
from edge.protocol.auth import add_signature, sign_encoded
from edge.protocol.canonical import Encoded
from edge.protocol.codec import encode
from edge.protocol.fills import digest, frame
from edge.protocol.messages import MAX_FILLS, ClearingResult, Settlement
from edge.runtime.inbox import Inbox
from edge.runtime.intervals import Schedule
from edge.runtime.organiser import Organiser

log = logging.getLogger("carbon_edge.market")

SETTLEMENTS = TypeAdapter(list[Settlement])

#: Blocks of this many bytes or more are hashed on a worker thread (``MarketService._digest``).
DIGEST_ASIDE_FROM = 1 << 18


class Clearer(Protocol):
    def clear_uniform(self, orders: list[Order]) -> Clearing: ...


Publish = Callable[[str, bytes, bool], None]


def order_ref(interval: int, seq: int) -> str:
    return f"{interval}-{seq}"


def _header(msg: Mapping[str, Any]) -> dict[str, Any]:
    """A result with its sealed openings checked by count and left out, for validating the
    rest with the model.

    Why: each opening is made from a bid that passed admission and opened to integers in
    range; validating 100,000 of them cost more than the clearing. The tests decode every
    published result in full.
    """
    sealed = msg.get("sealed")
    if sealed is None:
        return dict(msg)
    for name in ("opened", "refused"):
        if len(sealed[name]) > MAX_FILLS:
            raise ValueError(f"{len(sealed[name])} {name} exceed the protocol's {MAX_FILLS} "
                             "per result")
    return {**msg, "sealed": {**sealed, "opened": [], "refused": []}}


class MarketService:
    def __init__(
        self,
        site: str,
        schedule: Schedule,
        inbox: Inbox,
        key: PrivateKey,
        clearer: Clearer,
        publish: Publish,
        default_intensity: int = 0,
        clock: Clock = SYSTEM,
        organiser: Organiser | None = None,
    ) -> None:
        self.site = site
        self.schedule = schedule
        self.inbox = inbox
        self.key = key
        self.clearer = clearer
        self.publish = publish
        self.default_intensity = default_intensity
        self.clock = clock
        #: set where the site requires sealed bids
        self.organiser = organiser
        self.books: dict[int, IntervalRounds] = {}
        self.lock = threading.RLock()
        #: the last interval whose gate this service has handled
        self.last_gate: int | None = None
        self._hasher: ThreadPoolExecutor | None = None  # made for the first large block

    # -- quotes --------------------------------------------------------------
    def book(self, interval: int) -> IntervalRounds:
        """The interval's market, made on first use."""
        book = self.books.get(interval)
        if book is None:
            book = self.books[interval] = IntervalRounds(interval, self.schedule.max_rounds)
        return book

    def refusal(self, raw: Mapping[str, Any], now_s: float) -> str | None:
        """Why the market refuses a bid that passed admission (None = take it)."""
        interval, rnd, gw = raw["interval"], raw.get("round", 0), raw["gw"]
        book = self.books.get(interval)
        why = self.schedule.quote_refusal(
            interval, rnd, now_s, None if book is None else book.cleared_round
        )
        if why is None and self.organiser is not None:
            why = self.organiser.refusal(raw)
        if why is None and book is not None:
            why = book.refusal(gw, rnd, raw["side"])
        return why

    def accept(self, raw: Mapping[str, Any]) -> None:
        """Apply a persisted bid to its book (a sealed one waits for its round's opening)."""
        book = self.book(raw["interval"])
        if "sealed" in raw:
            return
        self._apply(book, raw["gw"], raw.get("round", 0), raw["side"], raw["qty_wh"],
                    raw["price"])

    def _apply(self, book: IntervalRounds, gw: str, rnd: int, side: Any, qty_wh: int,
               price: int) -> None:
        try:
            if rnd == 0:
                book.quote(gw, side, qty_wh, price)
            else:
                book.revise(gw, rnd, side, qty_wh, price)
        except (BookError, RoundRefused) as exc:  # refusal() ran under the same lock
            log.warning("bid not applied", extra={"interval": book.interval, "error": str(exc)})

    def _open(self, book: IntervalRounds, rnd: int, count: bool = True) -> dict[str, Any]:
        """Open round ``rnd``'s sealed bids into the book; the result's ``sealed`` part."""
        assert self.organiser is not None
        opened = self.organiser.open_round(book.interval, rnd, count)
        for o in opened:
            if o.reason is None:
                assert o.price is not None and o.qty_wh is not None
                self._apply(book, o.raw["gw"], rnd, o.raw["side"], o.qty_wh, o.price)
        return self.organiser.opening(book.interval, rnd, opened)

    # -- price signals from the hub --------------------------------------------
    def take_prices(self, signals: list[dict[str, Any]]) -> int:
        """Store verified price signals and relay the new ones to the gateways (retained)."""
        relayed = 0
        for signal in signals:
            if self.inbox.prices.add(signal, self.clock.wall_ms()):
                # gateways trust only the edge's key: the relayed copy is signed by it
                self.publish(topics.price(self.site), encode(add_signature(signal, self.key)),
                             True)
                relayed += 1
        return relayed

    # -- restart ----------------------------------------------------------------
    def recover(self, now_s: float) -> None:
        """Rebuild books and the round reached from the inbox and the results table, and
        publish each recorded round again."""
        horizon = self.schedule.start_of(now_s) - 4 * self.schedule.interval_s
        with self.lock:
            intervals = set(self.inbox.messages.bid_intervals(horizon))
            for interval in sorted(intervals | set(self.inbox.market.unfinished_intervals())):
                self._replay(interval)
            stored = self.inbox.meta("market_last_gate")
            current = self.schedule.next_open(now_s) - self.schedule.interval_s
            self.last_gate = int(stored) if stored is not None else current
            if self.organiser is not None:
                nxt = {i: b.next_round for i, b in self.books.items()
                       if b.next_round is not None}
                self.organiser.recover(now_s, nxt)
                for i, r in nxt.items():
                    self.organiser.republish(i, r)
            log.info("market recovered", extra={"books": len(self.books),
                                                "last_gate": self.last_gate})

    def _replay(self, interval: int) -> None:
        """One interval's market as it was: its bids round by round (a revision for round
        ``k`` applies once round ``k - 1`` has cleared, as it did live), each recorded
        round's sealed bids opened again, and its recorded rounds published again."""
        book = self.book(interval)
        results = self.inbox.market.results(interval)
        top = max((r["round"] for r in results), default=-1)
        by_round: dict[int, list[dict[str, Any]]] = {}
        for raw in self.inbox.messages.bids(interval):
            by_round.setdefault(raw.get("round", 0), []).append(raw)
        for r in range(top + 2):
            if r:
                book.restore(r - 1, False)
            for raw in by_round.pop(r, ()):
                self.accept(raw)
            if self.organiser is not None and r <= top:
                self._open(book, r, count=False)
        for r, raws in by_round.items():  # admission refuses these: none should be stored
            log.warning("bids for a round never opened not applied",
                        extra={"interval": interval, "round": r, "bids": len(raws)})
        if results:
            book.restore(top, any(r["final"] for r in results))
            self._publish_again(book)

    def _publish_again(self, book: IntervalRounds) -> None:
        """Publish an interval's recorded rounds again, in order (retained results are
        idempotent). A round recorded without its fills block (the power went before the
        block's commit reached the disk) gets it recomputed from its quotes and checked
        against its header's SHA-256."""
        frames = self.inbox.market.frames(book.interval)
        counts = Counter[str]()
        for raw in self.inbox.market.without_block(book.interval):
            header = json.loads(raw)
            block = self._recompute(book, header)
            if block is None:
                counts["result_blocks_lost"] += 1
                log.error("a recorded round's fills block could not be recomputed: its "
                          "result is not published again",
                          extra={"interval": book.interval, "round": header["round"]})
                continue
            counts["result_blocks_recomputed"] += 1
            self.inbox.market.store_block(book.interval, header["round"], block)
            frames[header["round"]] = frame(raw, block)
        self.inbox.db.bump(counts)
        for r in sorted(frames):
            self.publish(topics.result(self.site, book.interval), frames[r], True)

    def _recompute(self, book: IntervalRounds, header: Mapping[str, Any]) -> bytes | None:
        """The fills block that ``header`` names, or None. The quotes of its round are the
        book's; the adders are those of one of the price signals valid for the interval
        (or none), tried newest first: the one whose block has the header's hash is the
        one the round cleared with."""
        want = header.get("fills_sha256")
        if want is None:  # recorded before results had a block: nothing names one
            return None
        quotes = book.orders_for(header["round"])
        signals = self.inbox.prices.all_for(book.interval)
        for adders in [*(s["adders"] for s in signals), {}]:
            try:
                cleared = apply_adders(quotes, adders)
                block = fill_block(cleared, self.clearer.clear_uniform(cleared))
            except ValueError:  # adders this book cannot take: not the ones it cleared with
                continue
            if digest(block) == want:
                return block
        return None

    # -- the clock -----------------------------------------------------------
    def tick(self, now_s: float, now_ms: int) -> list[dict[str, Any]]:
        """Do whatever is due at ``now_s``; returns the results published."""
        out: list[dict[str, Any]] = []
        s = self.schedule
        with self.lock:
            if self.last_gate is None:
                self.last_gate = s.next_open(now_s) - s.interval_s
            if self.organiser is not None:
                self.organiser.announce_ahead(now_s, now_ms)
            # every interval whose gate passed gets a book, bids or not
            t = self.last_gate + s.interval_s
            while s.gate(t) <= now_s:
                self.book(t)
                self.last_gate = t
                self.inbox.set_meta("market_last_gate", str(t))
                t += s.interval_s
            for interval in sorted(self.books):
                book = self.books[interval]
                while book.next_round is not None:
                    if now_s < s.round_due(interval, book.next_round):
                        break
                    out.append(self._round(book, now_ms))
            self._forget_old(now_s)
        return out

    def _forget_old(self, now_s: float) -> None:
        keep_from = self.schedule.start_of(now_s) - 4 * self.schedule.interval_s
        for interval in [i for i, b in self.books.items() if b.final and i < keep_from]:
            del self.books[interval]
        if self.organiser is not None:
            self.organiser.forget_before(keep_from)

    def _round(self, book: IntervalRounds, now_ms: int) -> dict[str, Any]:
        price = self.inbox.prices.for_interval(book.interval)
        adders = price["adders"] if price else {}
        intensity = price["intensity_g_kwh"] if price else self.default_intensity
        book.max_rounds = self.schedule.max_rounds  # the schedule in force decides the limit
        opening = None
        if self.organiser is not None and book.next_round is not None:
            opening = self._open(book, book.next_round)  # the gate of this round has passed
        r = book.step(self.clearer.clear_uniform, adders)
        round_no, final, cleared, clearing = r.number, r.final, r.orders, r.clearing
        block = fill_block(cleared, clearing)
        fills_sha256 = self._digest(block)  # on a worker while the settlements are made
        settlements = []
        if final:
            settlements = self.settlement_messages(book.interval, cleared, clearing, intensity,
                                                   now_ms)
        result = self.result_message(book.interval, round_no, final, clearing, fills_sha256(),
                                     now_ms, opening)
        self.inbox.market.record_round(
            book.interval, round_no, final, result, settlements, self.clock.wall_ms(),
            Counter({"rounds": 1, "intervals_final": int(final)}),
        )
        if self.organiser is not None and book.next_round is not None:
            # the key of the next round first, so a revision answering this result has it
            self.organiser.announce(book.interval, book.next_round, now_ms)
        self.publish(topics.result(self.site, book.interval), frame(result.raw, block), True)
        try:
            self.inbox.market.store_block(book.interval, round_no, block)
        except sqlite3.Error as exc:  # published and recorded: the next start recomputes it
            log.error("a round's fills block was not stored", extra={
                "interval": book.interval, "round": round_no, "error": str(exc)})
        log.info("round cleared", extra={
            "interval": book.interval, "round": round_no, "final": final,
            "price": clearing.price, "volume_wh": clearing.volume_wh, "orders": len(cleared)})
        return dict(result)  # a plain copy for the caller: the Encoded one is read-only

    def _digest(self, block: bytes) -> Callable[[], str]:
        """The block's ``fills_sha256``, to be read when needed. Why a worker thread for a
        large block: hashlib lets go of the GIL while it hashes, so the 2.9 MB of a
        100,000-order round (about 1.7 ms of SHA-256) overlap the settlements' signatures."""
        if len(block) < DIGEST_ASIDE_FROM:
            done = digest(block)
            return lambda: done
        if self._hasher is None:
            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="fills-digest")
        return self._hasher.submit(digest, block).result

    # -- messages ------------------------------------------------------------
    def result_message(self, interval: int, round_no: int, final: bool, clearing: Clearing,
                       fills_sha256: str, now_ms: int,
                       opening: dict[str, Any] | None = None) -> Encoded:
        """The signed header of a round's result, with its canonical bytes (made once:
        stored, queued for the chain and published as they are). It commits to the fills
        block (``edge.protocol.fills``) by count and SHA-256: every fill carries the
        quote as cleared, the book the participants answer when not final
        (docs/market.md "Rounds")."""
        body: dict[str, Any] = {
            "v": 1, "type": "result", "site": self.site, "interval": interval,
            "round": round_no, "final": final, "ts": now_ms,
            "volume_wh": clearing.volume_wh, "regime": clearing.regime,
            "fills_n": len(clearing.fills), "fills_sha256": fills_sha256,
        }
        if clearing.price is not None:
            body["price"] = clearing.price
        if opening is not None:  # after the gate: anyone can check the openings (docs/market.md)
            body["sealed"] = opening
        msg = sign_encoded(body, self.key)
        ClearingResult.model_validate(_header(msg))  # our own output obeys the protocol
        return msg

    def settlement_messages(self, interval: int, orders: tuple[Order, ...], clearing: Clearing,
                            intensity: int, now_ms: int) -> list[Encoded]:
        if not clearing.volume_wh:
            return []
        st = settle_traded(orders, clearing, intensity)
        out = []
        for line in st.lines:
            body: dict[str, Any] = {
                "v": 1, "type": "settlement", "site": self.site, "interval": interval,
                "gw": line.participant, "ts": now_ms, "energy_wh": line.energy_wh,
                "amount_micro": -line.money_micro, "carbon_g": line.carbon_g,
            }
            if st.price is not None:
                body["price"] = st.price
            out.append(sign_encoded(body, self.key))
        SETTLEMENTS.validate_python(out)  # our own output obeys the protocol (in one call)
        return out

    # -- views -----------------------------------------------------------------
    def open_book(self, now_s: float) -> list[dict[str, Any]]:
        """P4 pending orders of every interval not yet final."""
        rows = []
        with self.lock:
            for interval in sorted(self.books):
                book = self.books[interval]
                if book.final:
                    continue
                status = "open" if now_s < self.schedule.gate(interval) else "closed"
                for p in book.pending():
                    rows.append({"interval": interval, "order_no": p.order_no,
                                 "order": order_ref(interval, p.order_no),
                                 "participant": p.participant, "side": p.side,
                                 "qty_wh": p.qty_wh, "price": p.price, "status": status,
                                 "round": p.round})
        return rows
