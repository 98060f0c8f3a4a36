"""Edge ingest and market benchmarks (issue 6).

1. Sustained ingest: N valid telemetry messages published (QoS 1) by a few
   paho publisher processes; the rate at which the edge PERSISTS them, against
   the rate at which `mosquitto_sub` alone receives the same stream from the
   same broker on the same machine (ratio; target >= 0.5).
2. Latency publish -> persisted at 1,000 gateways sending once a second
   (simulated by 4 paho publisher processes): p50 and p99 from the message's
   own `ts` (set at publish) to the inbox row's `stored_ms` (taken when its
   batch is written, just before the commit's fsync).
3. Clearing latency per interval (one market round: carbon adders, clearing
   through the PL dispatcher, signed result, settlements, one database
   transaction) for 10, 1,000 and 100,000 orders, and the bare dispatcher
   clearing next to it.
4. Peak RSS of the edge process (VmHWM) under the 1,000-gateway load
   (target < 256 MB).
The broker is plain TCP on loopback here (TLS is exercised by the tests), so
the mosquitto_sub baseline and the edge pay the same transport.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import args, line  # noqa: E402
from edge.chain.keys import generate_key, save_private_key  # noqa: E402
from edge.protocol.auth import add_tag  # noqa: E402
from edge.protocol.canonical import canonical  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SITE = "b1"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key_of(i: int) -> bytes:
    return i.to_bytes(4, "big") * 8


def gw_name(i: int) -> str:
    return f"g{i:04d}"


def message(gw: int, seq: int, ts: int) -> tuple[str, bytes]:
    g = gw_name(gw)
    body = {"v": 1, "type": "telemetry", "site": SITE, "gw": g, "seq": seq, "ts": ts,
            "readings": [{"dev": "m1", "kind": "meter", "q": "good", "ts": ts, "p_w": 1200,
                          "e_imp_wh": 5000 + seq, "e_exp_wh": 300}]}
    return f"site/{SITE}/gw/{g}/telemetry", canonical(add_tag(body, key_of(gw)))


def start_broker(d: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = d / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 1000000\nmax_inflight_messages 1000\nuser root\n"
                    if os.geteuid() == 0 else
                    f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 1000000\nmax_inflight_messages 1000\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def publisher(port: int, gws: list[int], per_gw: int, period_s: float, start_at: float) -> None:
    """Send per_gw messages from each gateway, one round every period_s (0 = flat out)."""
    import paho.mqtt.client as paho

    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pub-{os.getpid()}")
    c.max_inflight_messages_set(1000)
    c.connect("127.0.0.1", port)
    c.loop_start()
    while time.time() < start_at:
        time.sleep(0.001)
    infos = []
    for k in range(per_gw):
        t0 = time.time()
        for g in gws:
            t, p = message(g, k + 1, int(time.time() * 1000))
            infos.append(c.publish(t, p, qos=1))
        if period_s:
            time.sleep(max(0.0, period_s - (time.time() - t0)))
    for i in infos:
        i.wait_for_publish(120)
    c.loop_stop()
    c.disconnect()


def run_publishers(port: int, n_gw: int, per_gw: int, procs: int, period_s: float) -> float:
    start_at = time.time() + 0.5
    chunks = [list(range(i, n_gw, procs)) for i in range(procs)]
    ps = [mp.Process(target=publisher, args=(port, c, per_gw, period_s, start_at))
          for c in chunks]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    return start_at


def site_toml(d: Path, port: int, n_gw: int) -> Path:
    save_private_key(generate_key(), d / "edge.pem")
    gws = "\n".join(f'[[gateways]]\nid = "{gw_name(i)}"\nkey_hex = "{key_of(i).hex()}"\n'
                    for i in range(n_gw))
    text = f"""[site]
id = "{SITE}"
data_dir = "{d / 'data'}"
edge_key = "{d / 'edge.pem'}"
[mqtt]
host = "127.0.0.1"
port = {port}
tls = false
client_id = "edge-bench"
[admission]
past_s = 3600
seq_window = 4096
[blocks]
max_txs = 1000
max_age_s = 1
[pl]
backend = "cpu"
[status]
enabled = false
[log]
level = "warning"
{gws}"""
    p = d / "site.toml"
    p.write_text(text)
    return p


def start_edge(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "edge", "run", "--config",
                             str(cfg)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=open(cfg.parent / "edge.log", "ab"))


def persisted(db: Path) -> int:
    try:
        con = sqlite3.connect(db, timeout=5)
        n = con.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
        con.close()
        return n
    except sqlite3.Error:
        return 0


def wait_count(db: Path, n: int, timeout: float) -> float:
    end = time.time() + timeout
    while time.time() < end:
        if persisted(db) >= n:
            return time.time()
        time.sleep(0.02)
    raise RuntimeError(f"only {persisted(db)} of {n} persisted")


def peak_rss_mb(pid: int) -> float:
    for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith("VmHWM:"):
            return int(ln.split()[1]) / 1024
    return float("nan")


def bench_rate(total: int, n_gw: int, procs: int) -> None:
    per_gw = total // n_gw
    total = per_gw * n_gw
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        broker, port = start_broker(d)
        try:
            # baseline: mosquitto_sub alone, same stream
            sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-q", "1", "-t",
                                    f"site/{SITE}/gw/+/telemetry", "-C", str(total)],
                                   stdout=subprocess.DEVNULL)
            time.sleep(0.5)
            t0 = run_publishers(port, n_gw, per_gw, procs, 0)
            sub.wait(300)
            base = total / (time.time() - t0)
            # the edge
            edge = start_edge(site_toml(d, port, n_gw))
            db = d / "data" / "inbox.db"
            time.sleep(2.0)  # connected and subscribed
            t0 = run_publishers(port, n_gw, per_gw, procs, 0)
            t1 = wait_count(db, total, 300)
            rate = total / (t1 - t0)
            edge.terminate()
            edge.wait(30)
        finally:
            broker.terminate()
            broker.wait(10)
    line("ingest", f"sustained_{total}_msgs", rate, "msg/s", base, ">=0.5 x mosquitto_sub",
         publishers=procs, gateways=n_gw)


def bench_latency(n_gw: int, seconds: int, procs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        broker, port = start_broker(d)
        try:
            edge = start_edge(site_toml(d, port, n_gw))
            db = d / "data" / "inbox.db"
            time.sleep(2.5)
            run_publishers(port, n_gw, seconds, procs, 1.0)
            wait_count(db, n_gw * seconds, 120)
            rss = peak_rss_mb(edge.pid)
            con = sqlite3.connect(db)
            lat = sorted(s - t for s, t in con.execute("SELECT stored_ms, ts FROM inbox"))
            con.close()
            edge.terminate()
            edge.wait(30)
        finally:
            broker.terminate()
            broker.wait(10)
    def p(q: float) -> int:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    case = f"{n_gw}_gateways_1hz_{seconds}s"
    line("ingest", f"latency_p50_{case}", p(0.50), "ms", None, None, messages=len(lat))
    line("ingest", f"latency_p99_{case}", p(0.99), "ms", None, "<1000")
    line("ingest", f"edge_peak_rss_{case}", rss, "MB", None, "<256")


def bench_clearing(sizes: list[int]) -> None:
    import random

    from edge.market.clearing import Order
    from edge.pl.dispatch import Dispatcher
    from edge.runtime.inbox import Inbox
    from edge.runtime.intervals import Schedule
    from edge.runtime.market_service import IntervalBook, MarketService

    disp = Dispatcher("auto")
    key = generate_key()
    for n in sizes:
        rnd = random.Random(n)
        orders = [Order(f"p{i}", "buy" if rnd.random() < 0.5 else "sell",
                        rnd.randint(100, 5000), rnd.randint(40_000, 160_000), i + 1)
                  for i in range(n)]
        t = time.perf_counter()
        disp.clear_uniform(orders)
        bare = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            inbox = Inbox(Path(tmp) / "inbox.db")
            ms = MarketService(SITE, Schedule(900, 60, 10, 1), inbox, key, disp,
                               lambda *_: None, 300)
            book = IntervalBook(900_000)
            for o in orders:
                book.book.submit(o.id, o.side, o.qty_wh, o.price)
            ms.books[book.interval] = book
            ms.last_gate = book.interval
            t = time.perf_counter()
            [res] = ms.tick(book.interval - 60, 1)
            full = time.perf_counter() - t
            inbox.close()
        line("ingest", f"clear_dispatcher_{n}_orders", bare * 1000, "ms", None, None,
             backend=disp.last)
        line("ingest", f"interval_round_{n}_orders", full * 1000, "ms", None, "<1000 for 1000",
             volume_wh=res["volume_wh"])


def main() -> None:
    a = args(__doc__.splitlines()[0])
    if shutil.which("mosquitto_sub") is None or not Path(MOSQUITTO).exists():
        print(json.dumps({"bench": "ingest", "case": "skipped", "value": None, "unit": None,
                          "baseline": None, "ratio": None, "target": None,
                          "note": "mosquitto/mosquitto_sub not installed"}))
        return
    if a.quick:
        bench_rate(4000, 100, 2)
        bench_latency(1000, 3, 4)
        bench_clearing([10, 1000, 10_000])
    else:
        bench_rate(40_000, 200, 4)
        bench_latency(1000, 20, 4)
        bench_clearing([10, 1000, 100_000])


if __name__ == "__main__":
    main()
