"""Gateway firmware on the MicroPython unix port: poll cycle time and memory over a simulated day.

Cases:
- poll_cycle_50_tcp: 50 simulated SunSpec meters, each its own Modbus TCP server, polled by
  one firmware process every 1 s; cycle time = tick start to the last device's reply
  (median, p95, max) and the share of cycles that miss the 1 s deadline;
- mem_24h: a 24-hour accelerated run (2 meters + a battery, 15-minute intervals); peak
  gc.mem_alloc() (sampled every poll by the firmware, logged per window) in the first and
  the last simulated hour. Flat means last/first near 1;
- mem_board_*: the same day on the compiled firmware (make build) with an ESP32-class heap
  for its data (tests/kit/firmware.py BOARD_HEAP_KB, plus the compiled modules' own share,
  which a board keeps in flash): peaks and the least free heap seen;
- seal_bid: one sealed bid on the port (X25519 key pair + X25519 + HKDF-SHA256 +
  ChaCha20-Poly1305 of price and quantity, then the HMAC tag of the bid message), ms per bid;
  baseline: the same seal by `cryptography` (edge.market.sealed.seal) plus the tag in CPython;
- verify_result: what a gateway does with a 20-fill result frame on the port
  (gateway.downlink.Downlink.accept: the header's JSON, its Ed25519 signature with the edge
  key decoded once, its fields, the block's SHA-256 and count against the signed
  fills_sha256/fills_n, the block decoded and bounded, the result kept), ms per frame;
  baseline: the same steps in CPython (json, `cryptography`, hashlib, edge.protocol.fills).
  docs/firmware.md turns both into ESP32-class estimates.
Run: .venv/bin/python bench/bench_firmware.py [--quick]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import args, line  # noqa: E402
from simulator.broker import config_lines  # noqa: E402
from simulator.devices.config import config_from_flags  # noqa: E402
from simulator.devices.fleet import Fleet  # noqa: E402
from simulator.devices.server import FleetHost  # noqa: E402
from simulator.firmware import (  # noqa: E402
    MICROPYTHON,
    TEST_KEY_HEX,
    Board,
    Firmware,
    board_heap,
    gateway_config,
    mpy_build,
    run_mp,
    sign_downlink,
)
from simulator.procs import free_port, stop, wait_port  # noqa: E402

BENCH = "firmware"
MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


class Broker:
    """A plain loopback Mosquitto with the site's settings (simulator.broker), for the gateway."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.host, self.port, self.tls = "127.0.0.1", free_port(), False
        conf = directory / "mosquitto.conf"
        conf.write_text("\n".join(config_lines(self.port, directory, None, None, False)) + "\n")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not wait_port(self.port, up=True):
            self.stop()
            raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        stop(self.proc)


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


def memory_day(tmp: Path, broker: Broker | None, seconds: float,
               board: Board | None = None) -> None:
    accel = int(86400 // seconds) + 1
    fleet = Fleet(config_from_flags(2, 1, accel=float(accel), start="2024-06-21T00:00:00"))
    host = FleetHost(fleet).start()
    try:
        cfg = gateway_config(broker, _devices(host, 2, 1), clock={"accel": accel},
                             interval_s=900, poll_ms=200, telemetry_every=5, mem_every_s=600)
        where = (board.source, board.heap) if board else ()
        fw = Firmware(tmp / ("mem-" + (board.name if board else "port")), cfg, *where).start()
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
    prefix = "mem_"
    if board is not None:
        prefix = "mem_board_"
        extra.update(heap=board.heap, code_kb=board.code_kb)
    line(BENCH, prefix + "peak_first_hour", f, "bytes", **extra)
    line(BENCH, prefix + "peak_last_hour", la, "bytes", baseline=f, target="ratio <= 1.1",
         **extra)
    if board is not None:
        errors = sum(1 for x in fw.lines if "memory allocation failed" in json.dumps(x))
        line(BENCH, prefix + "min_free", min((m["free"] for m in mem), default=0), "bytes",
             target="> 0", **extra)
        line(BENCH, prefix + "memory_errors", errors, "count", target=0, **extra)


def _timed(fn, n: int) -> float:
    """Best of three runs of `n` calls: ms per call."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) * 1000 / n)
    return best


def _mp_ms(setup: str, stmt: str, n: int) -> float:
    """The port's ms per `stmt` (best of three runs of n), measured inside MicroPython."""
    code = (f"import time\n{setup}\nbest = None\nfor _ in range(3):\n"
            "    t = time.ticks_us()\n"
            f"    for _ in range({n}):\n        {stmt}\n"
            "    d = time.ticks_diff(time.ticks_us(), t)\n"
            "    best = d if best is None or d < best else best\n"
            f"print(best / {n} / 1000)")
    return float(run_mp(code, timeout=600).stdout.split()[-1])


def crypto(n: int) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from edge.market.sealed import OrganiserKey, seal
    from edge.protocol import fills
    from edge.protocol.auth import add_tag
    from edge.protocol.canonical import canonical

    org = OrganiserKey.generate(1718445600, 0)
    bid = {"v": 1, "type": "bid", "site": "s1", "gw": "gw-01", "seq": 7, "ts": 1718445000000,
           "interval": 1718445600, "side": "sell", "round": 0, "kid": org.kid}
    key = bytes.fromhex(TEST_KEY_HEX)

    def edge_seal() -> None:
        add_tag({**bid, "sealed": seal(81234, 1500, org.public, "gw-01", 1718445600, 0).hex()},
                key)

    setup = (f"from binascii import unhexlify as u\nfrom gateway import sealed, messages\n"
             f"from gateway.hmac256 import HMAC\nmac = HMAC(u('{TEST_KEY_HEX}'))\n"
             f"pub = u('{org.public.hex()}')\nbid = {bid!r}\n"
             "def one():\n"
             "    b = dict(bid)\n"
             "    b['sealed'] = sealed.seal(81234, 1500, pub, 'gw-01', 1718445600, 0).hex()\n"
             "    messages.seal(b, mac)")
    mp = _mp_ms(setup, "one()", n)
    line(BENCH, "seal_bid", mp, "ms", baseline=_timed(edge_seal, 50), target=None,
         port="unix", per="bid", work="X25519 x2 + HKDF + ChaCha20-Poly1305 + HMAC tag")

    # a result frame as the edge publishes it (tests/kit/firmware.py result_frame's steps):
    # the header signed with fills_n and fills_sha256, a newline, the block
    iv = 1718445600
    rows = [(i, 80000 + i, 1500, 1500, i % 2, 2, f"gw-{i:02d}") for i in range(20)]
    block = fills.encode(*(list(c) for c in zip(*rows, strict=True)))
    header = sign_downlink({
        "v": 1, "type": "result", "site": "s1", "interval": iv, "round": 0, "final": False,
        "ts": 1718445000000, "volume_wh": 30000, "regime": "sellers_market", "price": 81000,
        "fills_n": len(rows), "fills_sha256": fills.digest(block)})
    frame = fills.frame(canonical(header), block)
    topic = f"site/s1/market/{iv}/result"
    pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(header["signer"]))

    def edge_accept() -> None:
        head, blob = fills.split(frame)
        msg = json.loads(head)
        pub.verify(bytes.fromhex(msg["sig"]),
                   canonical({k: v for k, v in msg.items() if k != "sig"}))
        if fills.digest(blob) != msg["fills_sha256"] or fills.count(blob) != msg["fills_n"]:
            raise AssertionError("the frame's block is not the signed one")
        msg["fills"] = fills.decode(blob, msg["interval"])

    edge_accept()
    # a kept result makes the same frame a replay: each call starts with none kept
    setup = (f"from binascii import unhexlify as u\nfrom gateway.downlink import Downlink\n"
             f"dl = Downlink('s1', 'gw-01', '{header['signer']}')\n"
             f"frame = u('{frame.hex()}')\ntopic = '{topic}'\n"
             "def one():\n"
             "    dl.results.clear()\n"
             f"    return dl.accept(topic, frame, {iv})\n"
             "assert len(one()[1]['fills']) == 20")
    mp = _mp_ms(setup, "one()", n)
    line(BENCH, "verify_result", mp, "ms", baseline=_timed(edge_accept, 200),
         target=None, port="unix", per="frame", bytes=len(frame), block_bytes=len(block),
         fills=len(rows), work="Downlink.accept: JSON + Ed25519 verify + SHA-256 + decode")


def main() -> int:
    a = args(__doc__.splitlines()[0])
    if MICROPYTHON is None:
        print("bench_firmware: the micropython unix port is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker = Broker(tmp / "broker") if MOSQUITTO else None
        try:
            poll_cycle(tmp, broker, 6 if a.quick else 30)
            memory_day(tmp, broker, 8 if a.quick else 60)
            memory_day(tmp, broker, 8 if a.quick else 60, board_heap(mpy_build(tmp / "fw")))
            crypto(3 if a.quick else 20)
        finally:
            if broker is not None:
                broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
