"""The edge hub service: wires ingest, market, blocks, sync, Modbus and the status page.

Threads, each with one job: paho's network loop (enqueue only), the ingest
writer (admit, persist, acknowledge), the ticker (market clock and block
trigger), the sync loop, the Modbus pollers' event loop and uvicorn. The
market lock is shared by the writer and the ticker so that a bid's check,
its commit and its entry in the book happen between two clearings.

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
import queue
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PCounter

from edge.chain.keys import load_private_key, public_id
from edge.chain.merkle import Hasher
from edge.chain.store import ChainStore
from edge.clock import Clock
from edge.protocol import topics
from edge.protocol.auth import add_signature
from edge.protocol.codec import encode
from edge.protocol.transactions import MeterReading
from edge.runtime.admission import Accepted, Policy
from edge.runtime.blocks import BlockProducer, Trigger
from edge.runtime.config import Config
from edge.runtime.inbox import Inbox
from edge.runtime.ingest import Admitter, BatchOutcome, Incoming, MqttLink, Writer
from edge.runtime.intervals import Schedule
from edge.runtime.market_service import MarketService

log = logging.getLogger("carbon_edge.service")


def make_dispatcher(backend: str) -> Any:
    """The PL dispatcher (edge.pl): a Hasher that also clears."""
    from edge.pl.dispatch import Dispatcher

    return Dispatcher(backend)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.accepted = PCounter("carbon_edge_messages_accepted", "Messages persisted, by type",
                                 ["type"], registry=r)
        self.rejected = PCounter("carbon_edge_messages_rejected", "Messages refused, by reason",
                                 ["reason"], registry=r)
        self.latency = Histogram("carbon_edge_ingest_latency_seconds",
                                 "Receipt from the broker to committed in the inbox",
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5),
                                 registry=r)
        self.height = Gauge("carbon_edge_chain_height", "Height of the edge chain", registry=r)
        self.pending = Gauge("carbon_edge_pending_txs", "Transactions waiting for a block",
                             registry=r)
        self.rounds = PCounter("carbon_edge_market_rounds", "Clearing rounds published",
                               registry=r)
        self.connected = Gauge("carbon_edge_broker_connected", "1 while connected to the broker",
                               registry=r)
        self.acked = Gauge("carbon_edge_sync_acked_height", "Height the hub acknowledged",
                           registry=r)


class EdgeService:
    def __init__(self, cfg: Config, hasher_clearer: Any = None,
                 status_port_cb: Callable[[int], None] | None = None,
                 clock: Clock | None = None) -> None:
        self.cfg = cfg
        site = cfg.site.id
        cfg.site.data_dir.mkdir(parents=True, exist_ok=True)
        self.key = load_private_key(cfg.site.edge_key)
        self.edge_id = public_id(self.key.public_key())
        self.clock = clock if clock is not None else Clock.make(
            cfg.clock.accel, cfg.clock.origin_wall_ms, cfg.clock.origin_sim_ms)
        m = cfg.market
        self.schedule = Schedule(m.interval_s, m.gate_s, m.round_s, m.max_rounds)
        self.inbox = Inbox(cfg.inbox_path, self.clock)
        self.store = ChainStore(cfg.chain_path)
        self.pl = hasher_clearer if hasher_clearer is not None else make_dispatcher(cfg.pl.backend)
        hasher: Hasher = self.pl
        self.metrics = Metrics()
        self.registry = self.metrics.registry
        self.inbound: queue.Queue[Incoming] = queue.Queue()
        self.link = MqttLink(cfg.mqtt, site, self.inbound, self.clock)
        self.market = MarketService(site, self.schedule, self.inbox, self.key, self.pl,
                                    self._publish, m.default_intensity_g_kwh, self.clock)
        self.blocks = BlockProducer(
            self.inbox, self.store, self.key, cfg.site.chain(),
            Trigger(cfg.blocks.max_txs, int(cfg.blocks.max_age_s * 1000)), hasher, self.clock)
        a = cfg.admission
        policy = Policy(a.max_payload, a.past_s * 1000, a.future_s * 1000, a.hist_past_s * 1000,
                        a.seq_window)
        self.admitter = Admitter(site, cfg.gateway_keys(), policy, self.inbox.windows(),
                                 self.clock, self.market.refusal)
        self.writer = Writer(self.inbound, self.admitter, self.inbox, self.link.ack,
                             on_accepted=self._on_accepted, on_outcome=self._on_outcome,
                             lock=self.market.lock)
        self.last_telemetry: dict[str, dict[str, Any]] = self.inbox.last_telemetry()
        self.gw_state: dict[str, dict[str, Any]] = {}
        self.hub_readings: dict[str, dict[str, Any]] = {}
        self.sync_info: dict[str, Any] = {"state": "off" if cfg.sync is None else "starting"}
        self.stopping = threading.Event()
        self.status_port: int | None = None
        self._status_port_cb = status_port_cb
        self._threads: list[threading.Thread] = []
        self._uvicorn: Any = None
        self._sync_stop = threading.Event()

    # -- callbacks ---------------------------------------------------------------
    def _publish(self, topic: str, payload: bytes, retain: bool) -> None:
        self.link.publish(topic, payload, retain)

    def _on_accepted(self, accepted: list[Accepted]) -> None:
        """Runs in the writer after the commit, under the market lock."""
        for a in accepted:
            if a.type == "bid":
                self.market.accept(a.raw)
            elif a.type == "telemetry":
                prev = self.last_telemetry.get(a.gw)
                if prev is None or prev.get("seq", -1) < a.seq:
                    self.last_telemetry[a.gw] = {**a.raw, "recv_ms": self.clock.wall_ms()}
            elif a.type == "status":
                self.gw_state[a.gw] = {"state": a.raw["state"], "ts": a.raw["ts"],
                                       "fw": a.raw.get("fw", ""),
                                       "counters": a.raw.get("counters", {})}

    def _on_outcome(self, out: BatchOutcome) -> None:
        for a in out.accepted:
            self.metrics.accepted.labels(a.type).inc()
        for _, r in out.rejected:
            self.metrics.rejected.labels(r.reason).inc()
        for ms in out.latencies_ms:
            self.metrics.latency.observe(ms / 1000)

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        fixed = self.blocks.recover()
        self.market.recover(self.clock.now_s())
        log.info("edge starting", extra={"site": self.cfg.site.id, "edge_id": self.edge_id,
                                         "chain_height": self.store.height(),
                                         "blocks_recovered": fixed})
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
        self._sync_stop.set()
        self.link.client.on_message = None  # take no more; unacked ones are redelivered
        self.writer.stop()
        self.writer.join(timeout=10)
        self.link.stop()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        for t in self._threads:
            t.join(timeout=10)
        self.inbox.close()
        self.store.close()
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
        now_ms = self.clock.now_ms()
        with self.market.lock:
            published = self.market.tick(now_ms / 1000, now_ms)
        self.metrics.rounds.inc(len(published))
        self.blocks.step()  # wall time: the hub checks block ts against its own clock
        n, _ = self.inbox.pending_stats()
        self.metrics.pending.set(n)
        self.metrics.height.set(self.store.height())
        self.metrics.connected.set(1 if self.link.connected.is_set() else 0)

    def _tick_loop(self) -> None:
        period = max(0.02, min(0.5, self.clock.wall_seconds(1.0)))
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - log and keep the clock going
                log.exception("tick failed")
            self.stopping.wait(period)

    # -- sync ------------------------------------------------------------------------
    def _sync_loop(self) -> None:
        from edge.sync import SyncClient, SyncError

        sc = self.cfg.sync
        assert sc is not None
        store = ChainStore(self.cfg.chain_path)  # its own connection
        client = SyncClient(sc.url, self.key, self.edge_id, store, self.cfg.sync_state_path,
                            hub_id=sc.hub_key, site=self.cfg.site.id, clock=self.clock)
        # Resume receipts from what is durably recorded, not from the cursor file,
        # which may run ahead of the inbox after a crash.
        client.state.receipts_after = self.inbox.last_receipt_height()
        failures = 0
        try:
            while not self._sync_stop.is_set():
                try:
                    out = client.sync_once()
                    self._record_sync(out)
                    failures = 0
                    self.sync_info = {"state": "ok", "acked_height": client.state.acked_height,
                                      "last_ok_ms": self.clock.wall_ms(),
                                      "pushed": out["push"].pushed}
                    delay = sc.interval_s
                except SyncError as exc:
                    failures += 1
                    delay = min(300.0, sc.interval_s * 2 ** min(failures, 10))
                    self.sync_info = {**self.sync_info, "state": "failing",
                                      "error": f"{type(exc).__name__}: {exc}"[:300],
                                      "failures": failures,
                                      "acked_height": client.state.acked_height}
                    log.warning("sync failed", extra={"error": str(exc)[:200],
                                                      "retry_s": delay})
                self.metrics.acked.set(client.state.acked_height)
                self._sync_stop.wait(delay)
        finally:
            client.close()
            store.close()

    def _record_sync(self, out: dict[str, Any]) -> None:
        now = self.clock.wall_ms()
        if out["receipts"]:
            self.inbox.add_receipts(out["receipts"], now)
        for s in out["prices"]:
            if self.inbox.add_price(s, now):
                # gateways trust only the edge's key: the relayed copy is signed by it
                self.link.publish(topics.price(self.cfg.site.id),
                                  encode(add_signature(s, self.key)), True)

    # -- Modbus ------------------------------------------------------------------------
    def _modbus_loop(self) -> None:
        from edge.runtime.modbus import Reading, run_pollers

        def on_reading(r: Reading) -> None:
            self.hub_readings[r.dev] = r.as_dict()
            if r.q == "good":
                tx = MeterReading.model_validate({"site": self.cfg.site.id, **r.as_dict()})
                self.inbox.add_txs([tx], self.clock.wall_ms(), Counter({"meter_readings": 1}))

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
                {"url": f"http://{st.host}:{self.status_port}", "pid": _pid()}))
            if self._status_port_cb:
                self._status_port_cb(self.status_port)
            log.info("status page", extra={"url": f"http://{st.host}:{self.status_port}/"})

    # StatusSource -------------------------------------------------------------------
    def gateways(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for g in self.cfg.gateways:
            t = self.last_telemetry.get(g.id, {})
            out[g.id] = {"seq": t.get("seq"), "recv_ms": t.get("recv_ms"),
                         "readings": t.get("readings", []), "energy": t.get("energy"),
                         **self.gw_state.get(g.id, {"state": "unknown"})}
        if self.hub_readings:
            out["(hub meters)"] = {"readings": list(self.hub_readings.values())}
        return out

    def counters(self) -> dict[str, Any]:
        all_ = self.inbox.counters()
        return {
            "all": all_,
            "accepted": {k.split(":", 1)[1]: v for k, v in all_.items()
                         if k.startswith("accepted:")},
            "rejected": {k.split(":", 1)[1]: v for k, v in all_.items()
                         if k.startswith("rejected:")},
            "gaps": self.inbox.gaps(20),
        }

    def book(self) -> list[dict[str, Any]]:
        return self.market.open_book(self.clock.now_s())

    def results(self, limit: int) -> list[dict[str, Any]]:
        return self.inbox.results(limit=limit)

    def chain(self) -> dict[str, Any]:
        n, oldest = self.inbox.pending_stats()
        return {"chain": self.cfg.site.chain(), "height": self.store.height(),
                "head": self.store.head_hash(), "pending": n, "oldest_pending_ms": oldest,
                "producer": self.edge_id}

    def sync(self) -> dict[str, Any]:
        return dict(self.sync_info)

    def summary(self) -> dict[str, Any]:
        return {"site": self.cfg.site.id, "edge_id": self.edge_id, "now_ms": self.clock.now_ms(),
                "broker_connected": self.link.connected.is_set(),
                "next_open_interval": self.schedule.next_open(self.clock.now_s())}


def _pid() -> int:
    import os

    return os.getpid()
