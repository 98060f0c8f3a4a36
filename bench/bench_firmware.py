"""Gateway firmware on the MicroPython unix port: poll cycle time and memory over a simulated day.

Cases:
- poll_cycle_50_tcp: 50 simulated SunSpec meters, each its own Modbus TCP server, polled by
  one firmware process every 1 s; cycle time = tick start to the last device's reply
  (median, p95, max) and the share of cycles that miss the 1 s deadline;
- mem_24h: a 24-hour accelerated run (2 meters + a battery, 15-minute intervals); peak
  gc.mem_alloc() (sampled every poll by the firmware, logged per window) in the first and
  the last simulated hour. Flat means last/first near 1.
Run: .venv/bin/python bench/bench_firmware.py [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import args, line  # noqa: E402
from simulator.devices.config import config_from_flags  # noqa: E402
from simulator.devices.fleet import Fleet  # noqa: E402
from simulator.devices.server import FleetHost  # noqa: E402
from tests.kit.broker import MOSQUITTO, Broker  # noqa: E402
from tests.kit.firmware import MICROPYTHON, Firmware, gateway_config  # noqa: E402

BENCH = "firmware"


def _devices(host: FleetHost, meters: int, batteries: int) -> list[dict]:
    out = []
    for i, a in enumerate(host.addresses()):
        unit = i + 1
        kind = "meter" if unit <= meters else "battery"
        out.append({"name": f"{kind[0]}{unit}", "kind": kind, "unit": unit, "host": a["host"],
                    "port": a["port"], "max_w": 30000 if kind == "meter" else 5000,
                    "timeout_ms": 300})
    return out


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else 0.0


def poll_cycle(tmp: Path, broker: Broker | None, seconds: float) -> None:
    n = 50
    host = FleetHost(Fleet(config_from_flags(n, 0, per_device=True))).start()
    try:
        # one server per device, one device per server: unit ids are 1..50 in order
        devs = [{**d, "unit": i + 1} for i, d in enumerate(_devices(host, n, 0))]
        cfg = gateway_config(broker, devs, poll_ms=1000, log_cycles=True, telemetry_every=5,
                             interval_s=60)
        fw = Firmware(tmp / "cycle", cfg).start()
        time.sleep(seconds)
        fw.kill()
    finally:
        host.stop()
    cycles = [c for c in fw.events("cycle")][2:]  # the first two include discovery
    ms = [c["ms"] for c in cycles]
    miss = sum(1 for c in cycles if c["miss"])
    extra = {"cycles": len(cycles), "devices": n}
    line(BENCH, "poll_cycle_50_tcp_median", _pct(ms, 0.5), "ms", target=1000, **extra)
    line(BENCH, "poll_cycle_50_tcp_p95", _pct(ms, 0.95), "ms", target=1000, **extra)
    line(BENCH, "poll_cycle_50_tcp_max", max(ms) if ms else 0, "ms", target=1000, **extra)
    line(BENCH, "poll_cycle_50_tcp_deadline_miss", miss / max(1, len(cycles)), "share",
         target=0.01, **extra)


def memory_day(tmp: Path, broker: Broker | None, seconds: float) -> None:
    accel = int(86400 // seconds) + 1
    fleet = Fleet(config_from_flags(2, 1, accel=float(accel), start="2024-06-21T00:00:00"))
    host = FleetHost(fleet).start()
    try:
        cfg = gateway_config(broker, _devices(host, 2, 1), clock={"accel": accel},
                             interval_s=900, poll_ms=200, telemetry_every=5, mem_every_s=600)
        fw = Firmware(tmp / "mem", cfg).start()
        time.sleep(seconds + 1)
        fw.kill()
    finally:
        host.stop()
    mem = fw.events("mem")
    t0 = fw.events("boot")[0]["t"]
    first = [m["peak"] for m in mem if m["t"] - t0 <= 3600_000]
    last_t = mem[-1]["t"] if mem else t0
    last = [m["peak"] for m in mem if m["t"] >= last_t - 3600_000]
    span_h = (last_t - t0) / 3600_000
    f, la = max(first or [0]), max(last or [0])
    extra = {"simulated_h": round(span_h, 2), "accel": accel, "samples": len(mem)}
    line(BENCH, "mem_peak_first_hour", f, "bytes", **extra)
    line(BENCH, "mem_peak_last_hour", la, "bytes", baseline=f, target="ratio <= 1.1", **extra)


def main() -> int:
    a = args(__doc__.splitlines()[0])
    if MICROPYTHON is None:
        print("bench_firmware: the micropython unix port is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker = Broker(tmp / "broker", False, False, ["gw-01"]).start() if MOSQUITTO else None
        try:
            poll_cycle(tmp, broker, 6 if a.quick else 30)
            memory_day(tmp, broker, 15 if a.quick else 60)
        finally:
            if broker is not None:
                broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
