"""The edge hub service: the composition root that builds the parts and runs their threads.

Every part is built here and handed what it needs (the clock, the inbox,
the PL back end, the message link); none of them reaches for a global.
Threads, each with one job: the link's network loop (enqueue only), the
payload checks' hand-over to and from their process (``checks``), the
ingest writer (admit, persist, acknowledge), the ticker (market clock,
block trigger, inbox pruning), the sync loop (``SyncClient.run``), the
Modbus pollers' event loop and uvicorn. The market lock is shared by the
writer and the ticker so that a bid's check, its commit and its entry in the
book happen between two clearings.

Shutdown (SIGTERM from systemd, or Ctrl-C): stop taking messages (anything
not yet acknowledged is redelivered by the broker to our persistent
session), drain and acknowledge what was taken, stop the ticker, sync,
pollers and status page, close the databases. Nothing needs saving at that
point: the open books, the unflushed block and the sync position are
already on disk, which is also why SIGKILL loses nothing accepted.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from edge.chain.keys import load_private_key, public_id
from edge.chain.store import ChainStore
from edge.clock import Clock
from edge.pl.dispatch import Backend
from edge.protocol.transactions import MeterReading
from edge.runtime.admission import Accepted, Policy
from edge.runtime.blocks import BlockProducer, Trigger
from edge.runtime.checks import Checker
from edge.runtime.config import Config
from edge.runtime.gateways import GatewayBoard
from edge.runtime.inbox import Inbox
from edge.runtime.ingest import Admitter, BatchOutcome, Link, MqttLink, Writer
from edge.runtime.intervals import Schedule
from edge.runtime.journal import Journal
from edge.runtime.market_service import MarketService
from edge.runtime.metrics import Metrics
from edge.runtime.organiser import Organiser
from edge.web.dashboard import DashboardView, GatewayView

log = logging.getLogger("carbon_edge.service")


class StartupRefused(RuntimeError):
    """The edge must not start with this configuration and state (one sentence why)."""


def make_backend(cfg: Config) -> Backend:
    """The PL dispatcher (edge.pl) the config asks for: a Hasher that also clears."""
    from edge.pl.dispatch import Dispatcher

    return Dispatcher(cfg.pl.backend, regmap_path=cfg.pl.regmap)


def check_producer(store: ChainStore, edge_id: str) -> None:
    """Refuse to extend a chain whose genesis block another key produced."""
    if store.height() < 0:
        return
    producer = store.get(0).header.producer
    if producer != edge_id:
        raise StartupRefused(
            f"the chain at {store.path} was produced by {producer[:16]}..., not by this edge "
            f"key ({edge_id[:16]}...): restore the edge's own key, or start a new data_dir")


class EdgeService:
    def __init__(self, cfg: Config, pl: Backend | None = None,
                 status_port_cb: Callable[[int], None] | None = None,
                 clock: Clock | None = None, link: Link | None = None) -> None:
        self.cfg = cfg
        site = cfg.site.id
        cfg.site.data_dir.mkdir(parents=True, exist_ok=True)
        self.key = load_private_key(cfg.site.edge_key)
        self.edge_id = public_id(self.key.public_key())
        self.clock = clock if clock is not None else Clock.make(
            cfg.clock.accel, cfg.clock.origin_wall_ms, cfg.clock.origin_sim_ms)
        m = cfg.market
        self.schedule = Schedule(m.interval_s, m.gate_s, m.round_s, m.max_rounds)
        self.store = ChainStore(cfg.chain_path)
        try:
            check_producer(self.store, self.edge_id)
        except StartupRefused:
            self.store.close()
            raise
        self.inbox = Inbox(cfg.inbox_path, self.clock, cfg.inbox.busy_timeout_s)
        #: every chain-making input, in order, for replay (``[site] journal``)
        self.journal = (Journal(cfg.journal_path,
                                cfg.model_dump(mode="json", exclude_none=True,
                                               by_alias=True))
                        if cfg.site.journal else None)
        self.pl: Backend = pl if pl is not None else make_backend(cfg)
        self.metrics = Metrics()
        self.registry = self.metrics.registry
        self.link: Link = link if link is not None else MqttLink(
            cfg.mqtt, site, clock=self.clock, max_payload=cfg.admission.max_payload)
        organiser = (Organiser(site, self.key, self.schedule, self.inbox, self.link.publish,
                               m.open_workers) if m.sealed else None)
        self.market = MarketService(site, self.schedule, self.inbox, self.key, self.pl,
                                    self.link.publish, m.default_intensity_g_kwh, self.clock,
                                    organiser)
        self.blocks = BlockProducer(
            self.inbox.pending, self.store, self.key, cfg.site.chain(),
            Trigger(cfg.blocks.max_txs, int(cfg.blocks.max_age_s * 1000)), self.pl, self.clock)
        a = cfg.admission
        policy = Policy(a.max_payload, a.past_s * 1000, a.future_s * 1000, a.hist_past_s * 1000,
                        a.seq_window)
        self.admitter = Admitter(site, cfg.gateway_keys(), policy,
                                 self.inbox.messages.windows(), self.clock, self.market.refusal,
                                 self.journal)
        #: the payload checks in a second process, between the link and the writer
        self.checker = (Checker(self.link.inbound, site, cfg.gateway_keys(), a.max_payload)
                        if a.check_process else None)
        self.writer = Writer(self.link.inbound if self.checker is None else self.checker.out,
                             self.admitter, self.inbox, self.link.ack,
                             on_accepted=self._on_accepted, on_outcome=self._on_outcome,
                             lock=self.market.lock)
        self.board = GatewayBoard(self.clock, self.inbox.messages.last_telemetry())
        self.sync_info: dict[str, Any] = {"state": "off" if cfg.sync is None else "starting"}
        self.stopping = threading.Event()
        #: set by the writer once a block's worth of transactions may be waiting (what the
        #: last tick left pending plus what was accepted since), so a full block is cut at
        #: once, not at the next period
        self._block_full = threading.Event()
        self._cutting = threading.Lock()
        self._since_tick = 0
        self.status_port: int | None = None
        self._status_port_cb = status_port_cb
        self._threads: list[threading.Thread] = []
        self._uvicorn: Any = None
        self._next_prune_ms = 0

    # -- callbacks ---------------------------------------------------------------
    def _on_accepted(self, accepted: list[Accepted]) -> None:
        """Runs in the writer after the commit, under the market lock."""
        for a in accepted:
            if a.type == "bid":
                self.market.accept(a.raw)
        self.board.seen(accepted)

    def _on_outcome(self, out: BatchOutcome) -> None:
        """Metrics of one batch (one increment per label, not per message); the ticker is
        woken when a block's worth of transactions is waiting."""
        self._since_tick += len(out.accepted)
        if self._since_tick >= self.cfg.blocks.max_txs:
            self._block_full.set()
        for kind, n in Counter(a.type for a in out.accepted).items():
            self.metrics.accepted.labels(kind).inc(n)
        for reason, n in Counter(r.reason for _, r in out.rejected).items():
            self.metrics.rejected.labels(reason).inc(n)
        observe = self.metrics.latency.observe
        for ms in out.latencies_ms:
            observe(ms / 1000)

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        fixed = self.blocks.recover()
        wall = self.clock.wall_ms()
        now_ms = self.clock.at_wall_ms(wall)
        if self.journal is not None:
            self.journal.start(now_ms, wall)
        self.market.recover(now_ms / 1000)
        log.info("edge starting", extra={"site": self.cfg.site.id, "edge_id": self.edge_id,
                                         "chain_height": self.store.height(),
                                         "blocks_recovered": fixed})
        if self.checker is not None:
            self.checker.start()
        self.writer.start()
        self.link.start()
        self._spawn("ticker", self._tick_loop)
        if self.cfg.sync is not None:
            self._spawn("sync", self._sync_loop)
        if self.cfg.meters:
            self._spawn("modbus", self._modbus_loop)
        if self.cfg.status.enabled:
            self._start_status()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        if self.stopping.is_set():
            return
        log.info("edge stopping")
        self.stopping.set()
        self._block_full.set()
        self.link.stop_taking()  # take no more; unacked ones are redelivered
        if self.checker is not None:
            self.checker.stop()  # hands on what it holds first
        self.writer.stop()
        if self.writer.is_alive():
            self.writer.join(timeout=10)
        self.link.stop()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        for t in self._threads:
            t.join(timeout=10)
        if self.market.organiser is not None:
            self.market.organiser.close()
        self.inbox.close()
        self.store.close()
        if self.journal is not None:
            self.journal.close()
        log.info("edge stopped")

    def run_forever(self) -> int:
        """Start, wait for SIGTERM/SIGINT, stop gracefully."""
        done = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: done.set())
        self.start()
        while not done.wait(0.5):
            pass
        self.stop()
        return 0

    # -- the clock -------------------------------------------------------------------
    def tick(self) -> None:
        # under the market lock, which orders every chain-making input (ingest batches,
        # ticks, hub records, meter readings): the order the journal writes down
        with self.market.lock:
            wall = self.clock.wall_ms()
            now_ms = self.clock.at_wall_ms(wall)
            changes = self.inbox.db.conn.total_changes
            published = self.market.tick(now_ms / 1000, now_ms)
            if self.journal is not None and self.inbox.db.conn.total_changes != changes:
                self.journal.tick(now_ms, wall)  # a tick that wrote nothing changes nothing
        self._cut_blocks()
        self.metrics.rounds.inc(len(published))
        self._prune_when_due()
        self.inbox.db.checkpoint()  # off the commit path: see inbox.db.AUTOCHECKPOINT_PAGES
        n, _ = self.inbox.pending.stats()
        # what stays pending counts toward the next wake-up: counting from zero, the rest of
        # a burst smaller than a block would wait for the next period with a full block
        self._since_tick = n
        self.metrics.pending.set(n)
        self.metrics.height.set(self.store.height())
        self.metrics.connected.set(1 if self.link.connected.is_set() else 0)
        self.metrics.stalled.set(1 if self.writer.stall is not None else 0)
        self.metrics.write_failures.set(self.writer.failures)

    def _cut_blocks(self) -> None:
        """Cut the blocks that are due, outside the market lock.

        Why not under it: a cut is two fsyncs (the chain append, then the inbox forgetting
        the block's transactions) and the ingest writer needs that lock for every batch, so
        holding it stalled ingest for each block. Cuts only take transactions from the head
        of the pending queue while inputs only add at its tail, and one cut runs at a time
        (``_cutting``: the ticker and a caller of ``tick``, such as the simulator's lockstep,
        would otherwise cut the same head twice); the journal records each block with its
        transaction count once it is on disk, and replay cuts exactly that many from the head
        (``replay.Replayer.block``), so the batches journalled between the cut and its line
        change nothing.
        """
        with self._cutting:
            wall = self.clock.wall_ms()  # wall time: the hub checks block ts against its own
            for block in self.blocks.step(wall):
                if self.journal is not None:
                    self.journal.block(self.clock.at_wall_ms(wall), wall, block)

    def _prune_when_due(self) -> None:
        """Drop raw messages that are on the chain and anchored, on a wall-clock schedule."""
        wall = self.clock.wall_ms()
        if wall < self._next_prune_ms:
            return
        ic = self.cfg.inbox
        self._next_prune_ms = wall + int(ic.prune_every_s * 1000)
        s = self.schedule
        keep_books_from = s.start_of(self.clock.now_s()) - 4 * s.interval_s
        n = self.inbox.prune(wall - int(ic.keep_s * 1000), keep_books_from)
        if n:
            self.metrics.pruned.inc(n)
            log.info("inbox pruned", extra={"messages": n})

    def _tick_loop(self) -> None:
        period = max(0.02, min(0.5, self.clock.wall_seconds(1.0)))
        while not self.stopping.is_set():
            self._block_full.clear()
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - log and keep the clock going
                log.exception("tick failed")
            self._block_full.wait(period)

    # -- sync ------------------------------------------------------------------------
    def _sync_loop(self) -> None:
        from edge.sync import SyncClient

        sc = self.cfg.sync
        assert sc is not None
        store = ChainStore(self.cfg.chain_path)  # its own connection
        client = SyncClient(sc.url, self.key, self.edge_id, store, self.cfg.sync_state_path,
                            hub_id=sc.hub_id, site=self.cfg.site.id, clock=self.clock,
                            recorded=self.inbox, ca=sc.ca)
        try:
            client.run(self.stopping, sc.interval_s, on_round=self._record_sync,
                       on_status=self._sync_status)
        finally:
            client.close()
            store.close()

    def _record_sync(self, out: dict[str, Any]) -> None:
        with self.market.lock:  # one order of chain inputs (see tick)
            wall = self.clock.wall_ms()
            now_ms = self.clock.at_wall_ms(wall)
            if out["receipts"]:
                if self.journal is not None:
                    self.journal.receipts(now_ms, wall, out["receipts"])
                self.inbox.receipts.add(out["receipts"], wall)
            if out["prices"] and self.journal is not None:
                self.journal.prices(now_ms, wall, out["prices"])
            self.market.take_prices(out["prices"])

    def _sync_status(self, info: dict[str, Any]) -> None:
        self.sync_info = {**info, **({} if info["state"] == "ok" else
                                     {"last_ok_ms": self.sync_info.get("last_ok_ms")})}
        self.metrics.acked.set(info["acked_height"])

    # -- Modbus ------------------------------------------------------------------------
    def _modbus_loop(self) -> None:
        from edge.runtime.modbus import Reading, run_pollers

        def on_reading(r: Reading) -> None:
            self.board.meter(r.dev, r.as_dict())
            if r.q == "good":
                tx = MeterReading.model_validate({"site": self.cfg.site.id, **r.as_dict()})
                with self.market.lock:  # one order of chain inputs (see tick)
                    wall = self.clock.wall_ms()
                    if self.journal is not None:
                        self.journal.meter(self.clock.at_wall_ms(wall), wall,
                                           tx.model_dump(mode="json"))
                    self.inbox.pending.add([tx], wall, Counter({"meter_readings": 1}))

        run_pollers(self.cfg.meters, on_reading, self.clock.now_ms, self.stopping.is_set)

    # -- status ------------------------------------------------------------------------
    def _start_status(self) -> None:
        import uvicorn

        from edge.runtime.status import create_app

        st = self.cfg.status
        config = uvicorn.Config(create_app(self), host=st.host, port=st.port,
                                log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._uvicorn = server
        self._spawn("status", server.run)
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.025)
        if server.started and server.servers:
            self.status_port = server.servers[0].sockets[0].getsockname()[1]
            (self.cfg.site.data_dir / "status.json").write_text(json.dumps(
                {"url": f"http://{st.host}:{self.status_port}", "pid": os.getpid()}))
            if self._status_port_cb:
                self._status_port_cb(self.status_port)
            log.info("status page", extra={"url": f"http://{st.host}:{self.status_port}/"})

    # StatusSource -------------------------------------------------------------------
    def gateways(self) -> dict[str, Any]:
        return self.board.view(g.id for g in self.cfg.gateways)

    def counters(self) -> dict[str, Any]:
        all_ = self.inbox.counters()
        return {
            "all": all_,
            "accepted": {k.split(":", 1)[1]: v for k, v in all_.items()
                         if k.startswith("accepted:")},
            "rejected": {k.split(":", 1)[1]: v for k, v in all_.items()
                         if k.startswith("rejected:")},
            "gaps": self.inbox.messages.gaps(20),
        }

    def book(self) -> list[dict[str, Any]]:
        return self.market.open_book(self.clock.now_s())

    def results(self, limit: int) -> list[dict[str, Any]]:
        return self.inbox.market.results(limit=limit)

    def chain(self) -> dict[str, Any]:
        n, oldest = self.inbox.pending.stats()
        return {"chain": self.cfg.site.chain(), "height": self.store.height(),
                "head": self.store.head_hash(), "pending": n, "oldest_pending_ms": oldest,
                "producer": self.edge_id, "anchored_height": self.inbox.receipts.anchored_height()}

    def sync(self) -> dict[str, Any]:
        return dict(self.sync_info)

    def dashboard(self) -> DashboardView:
        """The page's facts: now, the gateways, the book, and the series of the last day."""
        from edge.runtime import history

        wall = self.clock.wall_ms()
        since_s = self.clock.now_s() - 86_400
        gws = []
        for gid, g in self.gateways().items():
            if gid.startswith("("):
                continue
            gws.append(GatewayView(gid, g.get("recv_ms"), g.get("state", "unknown"),
                                   g.get("readings", [])))
        energy, soc = history.energy_and_soc(self.inbox.db, wall - history.DAY_MS)
        counters = self.counters()
        return DashboardView(
            site=self.cfg.site.id, edge_id=self.edge_id, wall_ms=wall,
            market_ms=self.clock.now_ms(), broker_connected=self.link.connected.is_set(),
            sync_state=str(self.sync_info.get("state", "off")),
            chain_height=self.store.height(),
            anchored_height=self.inbox.receipts.anchored_height(),
            pending_txs=self.inbox.pending.stats()[0], gateways=gws, book=self.book(),
            results=self.results(10),
            intervals=history.interval_series(self.inbox.market.results(limit=200),
                                              int(since_s)),
            energy=energy, soc=soc, rejections=counters["rejected"],
            heights=history.heights(self.store, self.inbox.db, wall - history.DAY_MS))

    def summary(self) -> dict[str, Any]:
        stall = self.writer.stall
        c = self.clock
        return {"site": self.cfg.site.id, "edge_id": self.edge_id, "now_ms": c.now_ms(),
                # market time = origin_sim_ms + (wall - origin_wall_ms) * accel: what a
                # simulator driving gateways for this edge must run on (docs/simulator.md)
                "clock": {"accel": c.accel, "origin_wall_ms": c.origin_wall_ms,
                          "origin_sim_ms": c.origin_sim_ms},
                "broker_connected": self.link.connected.is_set(),
                "next_open_interval": self.schedule.next_open(self.clock.now_s()),
                "ingest": {"state": "ok" if stall is None else "stalled",
                           "write_failures": self.writer.failures,
                           **({} if stall is None else {"since_ms": stall.since_ms,
                                                        "retries": stall.retries,
                                                        "error": stall.error})},
                "alarms": self.inbox.receipts.alarms()}
