"""Edge ingest benchmarks: the edge against the broker's own C client, same input, same run.

1. Sustained ingest. The signed telemetry messages are generated first, one
   file per gateway, and nothing is signed while the clock runs. Then, in ONE
   run on one private Mosquitto (loopback, plain TCP, QoS 1), `mosquitto_sub`
   and the edge are both subscribed while one `mosquitto_pub -l` per gateway
   (one topic per gateway) publishes its file. Measured from the first message
   `mosquitto_sub` received (a) to its last, and (b) to the edge's last
   message admitted and persisted (the inbox row's `stored_ms`, taken when its
   batch is committed). Reported: the edge's rate with mosquitto_sub's as the
   baseline (ratio b/a; target >= 0.5).
2. End to end through the chain: from the first message to the last
   telemetry transaction in a signed, fsynced block (tx/s). Reported twice:
   - ``service_e2e_beside_sub_*``: in the run of 1, mosquitto_sub's rate as the
     baseline; no target, because that run shares the two cores between the
     edge and a second subscriber, which this figure then measures too;
   - ``service_e2e_*`` (target >= 20,000 tx/s): a run of its own on a new broker
     and a new edge with the edge as the only subscriber, from its first receipt
     (the inbox's ``recv_ms``); its baseline is a ``mosquitto_sub`` run alone
     on the same files the same way in the same benchmark (one subscriber
     each: like with like). Three such pairs of runs, one after the other;
     the figures are the medians, each pair is in the line's ``runs``: the
     2-core host's speed varied by a third from one minute to the next (the
     broker's own CPU a message from 20 to 27 us), more than any change
     measured here.
   Before them, the host's ceiling for any second subscriber: the same files
   published the same way with a second ``mosquitto_sub`` (C, storing
   nothing) in the edge's place, its rate against the first one's
   (``second_sub_*``): an edge that stores, hashes and signs beside
   mosquitto_sub cannot be faster than that on the same cores. The readiness
   probe sends status messages, which make no chain transaction, so the
   measured telemetry fills whole blocks (40 of ``max_txs`` = 1,000): had it
   left a partial last block, that block would wait for the age trigger
   (``max_age_s`` = 1 s, checked at ticks up to 0.5 s apart) and the figure
   would hold that wait whatever the throughput.
3. Latency publish -> persisted at 1,000 gateways sending once a second:
   messages are pre-signed with their scheduled send time as `ts` and sent at
   that time (one paced publisher, a topic per gateway), so a late publisher
   only makes the figure worse (the first send time is set after the signing
   has finished, so signing never makes it late). p50/p99 of `stored_ms - ts` (target p99 <
   100 ms), and the edge's peak RSS (VmHWM of the edge process and of its payload-check
   worker, added up) under that load (target < 256 MB).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import args, line  # noqa: E402
from edge.chain.keys import generate_key, save_private_key  # noqa: E402
from edge.chain.packed import unpack_all  # noqa: E402
from edge.protocol.auth import add_tag  # noqa: E402
from edge.protocol.canonical import canonical  # noqa: E402
from simulator.procs import free_port, stop, wait_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SITE = "b1"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
TOOLS = (MOSQUITTO, shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub"))


def key_of(i: int) -> bytes:
    return i.to_bytes(4, "big") * 8


def gw_name(i: int) -> str:
    return f"g{i:04d}"


def topic(gw: int) -> str:
    return f"site/{SITE}/gw/{gw_name(gw)}/telemetry"


def message(gw: int, seq: int, ts: int) -> bytes:
    """One signed telemetry message, canonical JSON (one line: no raw newlines)."""
    body = {"v": 1, "type": "telemetry", "site": SITE, "gw": gw_name(gw), "seq": seq, "ts": ts,
            "readings": [{"dev": "m1", "kind": "meter", "q": "good", "ts": ts, "p_w": 1200,
                          "e_imp_wh": 5000 + seq, "e_exp_wh": 300}]}
    return canonical(add_tag(body, key_of(gw)))


PROBE = 9999  # an extra configured gateway whose messages tell that the edge is listening
NOT_PROBE = f"gw != '{gw_name(PROBE)}'"
PROBE_TOPIC = f"site/{SITE}/gw/{gw_name(PROBE)}/status"


def probe_message(seq: int, ts: int) -> bytes:
    """A signed status message of the probe gateway: persisted like the measured messages,
    but no chain transaction (only telemetry, bids and peg requests make one), so it never
    leaves the measured telemetry a partial block waiting for the age trigger."""
    body = {"v": 1, "type": "status", "site": SITE, "gw": gw_name(PROBE), "seq": seq,
            "ts": ts, "state": "online"}
    return canonical(add_tag(body, key_of(PROBE)))


def start_broker(d: Path) -> tuple[subprocess.Popen, int]:
    """A private Mosquitto on a free loopback port with queues deep enough for a burst."""
    port = free_port()
    conf = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false",
            "max_queued_messages 1000000", "max_inflight_messages 1000"]
    if os.geteuid() == 0:
        conf.append("user root")  # as root mosquitto drops to a user who cannot read tmp
    (d / "mosquitto.conf").write_text("\n".join(conf) + "\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(d / "mosquitto.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_port(port):
        stop(proc)
        raise RuntimeError("mosquitto did not start")
    return proc, port


def site_toml(d: Path, port: int, n_gw: int, max_txs: int = 1000) -> Path:
    save_private_key(generate_key(), d / "edge.pem")
    gws = "\n".join(f'[[gateways]]\nid = "{gw_name(i)}"\nkey_hex = "{key_of(i).hex()}"\n'
                    for i in [*range(n_gw), PROBE])
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
max_txs = {max_txs}
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


def query(db: Path, sql: str) -> tuple:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return (0, None)


class Tally:
    """A count polled without rescanning: each poll reads only the rows past the newest
    key it has seen (``sql`` answers rows of a key and a value; ``count`` makes the value
    a count, by default it is one).

    Why: the benchmark polls every 10 ms on the 2 cores the edge also runs on. A full scan
    per poll (the chain's with ``instr`` over every transaction: 60-95 ms each by the end)
    took more than a core-second per run from the process under test, and so did opening
    the database for every poll (about 4 us of CPU per measured message): one read-only
    connection is kept. Nothing is deleted during a run (nothing is anchored, so nothing
    is pruned) and both keys (inbox id, block height) only grow from one commit to the
    next, so the sum is exact.
    """

    def __init__(self, db: Path, sql: str, count: Callable[[Any], int] = int) -> None:
        self.db, self.sql, self.count, self.last, self.n = db, sql, count, -1, 0
        self.con: sqlite3.Connection | None = None

    def __call__(self) -> int:
        try:
            if self.con is None:
                self.con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
            rows = self.con.execute(self.sql.format(last=self.last)).fetchall()
        except sqlite3.Error:  # not there yet, or busy: the next poll asks again
            return self.n
        for key, value in rows:
            if key is not None:
                self.last, self.n = max(self.last, key), self.n + self.count(value)
        return self.n

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


def persisted(inbox: Path) -> Tally:
    return Tally(inbox, f"SELECT MAX(id), COUNT(*) FROM inbox WHERE id > {{last}} AND {NOT_PROBE}")


def chained(chain: Path) -> Tally:
    """Telemetry transactions of the bench's gateways (not the probe's) in stored blocks."""
    probe = gw_name(PROBE).encode()

    def telemetry(packed: bytes) -> int:
        return sum(1 for t in unpack_all(packed) if b"telemetry" in t and probe not in t)

    return Tally(chain, "SELECT height, data FROM block_txs WHERE height > {last}", telemetry)


def wait_until(what: str, tally: Tally, n: int, timeout: float, proc: subprocess.Popen) -> float:
    """Poll ``tally`` until it reaches n; the wall time when it was first seen there."""
    end = time.time() + timeout
    try:
        while time.time() < end:
            if tally() >= n:
                return time.time()
            if proc.poll() is not None:
                raise RuntimeError(f"the edge exited ({proc.returncode}) while waiting for "
                                   f"{what}")
            time.sleep(0.01)
        raise RuntimeError(f"only {tally()} of {n} {what} after {timeout} s")
    finally:
        tally.close()


def peak_rss_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of the edge and its child processes (the payload-check worker),
    added up: an upper bound of what the edge held at once."""
    total = 0.0
    for p in [pid, *children(pid)]:
        for ln in Path(f"/proc/{p}/status").read_text().splitlines():
            if ln.startswith("VmHWM:"):
                total += int(ln.split()[1]) / 1024
    return total


def children(pid: int) -> list[int]:
    return [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
            for c in (t / "children").read_text().split()]


def edge_ready(d: Path, proc: subprocess.Popen, port: int) -> None:
    """Wait until the edge admits and persists: a probe gateway publishes until one lands.

    Needed because messages published before the edge's first subscription are lost to it
    (its persistent session does not exist yet), and start-up time varies with load.
    """
    inbox = d / "data" / "inbox.db"
    end = time.time() + 120
    seq = 0
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("the edge did not start: " + (d / "edge.log").read_text()[-2000:])
        seq += 1
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t",
                        PROBE_TOPIC, "-m", probe_message(seq, int(time.time() * 1000))],
                       check=True)
        if query(inbox, f"SELECT COUNT(*) FROM inbox WHERE gw = '{gw_name(PROBE)}'")[0]:
            return
        time.sleep(0.2)
    raise RuntimeError("the edge never persisted a probe message")


def subscriber(port: int, n_gw: int, total: int, out: Path,
               extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """``mosquitto_sub`` on every measured gateway's topic (and ``extra`` ones), writing
    each arrival's time, until ``total`` messages came."""
    topics = [a for t in [*(topic(g) for g in range(n_gw)), *extra] for a in ("-t", t)]
    with open(out, "w") as f:  # the child keeps its own copy of the file
        return subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q",
                                 "1", *topics, "-C", str(total), "-F", "%U"], stdout=f)


def publish(port: int, files: list[Path]) -> list[subprocess.Popen]:
    """One ``mosquitto_pub -l`` per gateway file, on that gateway's topic, QoS 1."""
    pubs = []
    for g, path in enumerate(files):
        with open(path, "rb") as f:  # the child keeps its own copy of the file
            pubs.append(subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port),
                                          "-q", "1", "-t", topic(g), "-i", f"pub-{g}", "-l"],
                                         stdin=f))
    return pubs


def arrivals(times: Path) -> list[float]:
    return [float(x) for x in times.read_text().split()]


def rate_of(t: list[float]) -> float:
    """Messages a second from a subscriber's first arrival to its last."""
    return len(t) / (max(t) - min(t))


def subscribers_only(d: Path, files: list[Path], n_gw: int, n_subs: int) -> list[float]:
    """The input to ``n_subs`` ``mosquitto_sub`` and no edge: each one's rate."""
    total = sum(1 for f in files for _ in f.open("rb"))
    broker, port = start_broker(d)
    subs: list[subprocess.Popen] = []
    pubs: list[subprocess.Popen] = []
    out = [d / f"only{n_subs}_{i}.times" for i in range(n_subs)]
    try:
        # a retained probe reaches each subscriber once it has subscribed: its first line
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-r",
                        "-t", PROBE_TOPIC, "-m", probe_message(1, int(time.time() * 1000))],
                       check=True)
        subs = [subscriber(port, n_gw, total + 1, f, (PROBE_TOPIC,)) for f in out]
        end = time.time() + 60
        while not all(f.read_bytes().count(b"\n") for f in out):
            if time.time() > end:
                raise RuntimeError("mosquitto_sub did not subscribe within 60 s")
            time.sleep(0.01)
        pubs = publish(port, files)
        for p in (*pubs, *subs):
            p.wait(120)
    finally:
        for p in (*pubs, *subs, broker):
            stop(p)
    return [rate_of(arrivals(f)[1:]) for f in out]


class EdgeRun(NamedTuple):
    """One run of the edge on the input: wall times in seconds."""

    first: float  # the first measured message: mosquitto_sub's arrival, or the edge's receipt
    persisted: float  # the last one's inbox commit (``stored_ms``)
    chained: float  # the last one seen in a signed, fsynced block (polled every 10 ms)
    sub_rate: float | None  # mosquitto_sub's rate beside the edge


def edge_run(d: Path, files: list[Path], n_gw: int, beside_sub: bool) -> EdgeRun:
    """The input to the edge, with a ``mosquitto_sub`` on the same topics or without."""
    total = sum(1 for f in files for _ in f.open("rb"))
    d.mkdir()
    broker, port = start_broker(d)
    edge = sub = None
    pubs: list[subprocess.Popen] = []
    try:
        edge = start_edge(site_toml(d, port, n_gw))
        if beside_sub:
            sub = subscriber(port, n_gw, total, d / "sub.times")
        edge_ready(d, edge, port)
        pubs = publish(port, files)
        inbox, chain = d / "data" / "inbox.db", d / "data" / "chain.db"
        wait_until("persisted", persisted(inbox), total, 300, edge)
        chained_at = wait_until("chained", chained(chain), total, 300, edge)
        first_ms, last_ms = query(inbox, f"SELECT MIN(recv_ms), MAX(stored_ms) FROM inbox "
                                         f"WHERE {NOT_PROBE}")
        times = None
        if sub is not None:
            sub.wait(60)
            times = arrivals(d / "sub.times")
        for p in pubs:
            p.wait(30)
    finally:
        for p in (*pubs, sub, edge, broker):
            stop(p)
    if times is None:
        return EdgeRun(first_ms / 1000, last_ms / 1000, chained_at, None)
    return EdgeRun(min(times), last_ms / 1000, chained_at, rate_of(times))


def bench_rate(n_gw: int, per_gw: int, repeats: int) -> None:
    total = n_gw * per_gw
    case = f"{n_gw}_gateways_x_{per_gw}_msgs"
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        now = int(time.time() * 1000)
        files = []
        for g in range(n_gw):  # signed before the clock starts
            f = d / f"{gw_name(g)}.lines"
            f.write_bytes(b"".join(message(g, k + 1, now) + b"\n" for k in range(per_gw)))
            files.append(f)
        first, second = subscribers_only(d, files, n_gw, 2)
        line("ingest", f"second_sub_{case}", second, "msg/s", first, None,
             baseline_is="the first mosquitto_sub, same run", messages=total,
             path="a second mosquitto_sub in the edge's place: the host's ceiling for the edge")
        beside = edge_run(d / "beside", files, n_gw, beside_sub=True)
        pairs = []  # (mosquitto_sub alone, the edge alone), one pair after the other
        for k in range(repeats):
            [lone] = subscribers_only(d, files, n_gw, 1)
            alone = edge_run(d / f"alone{k}", files, n_gw, beside_sub=False)
            pairs.append((lone, total / (alone.chained - alone.first)))
    base = beside.sub_rate
    line("ingest", f"persisted_{case}", total / (beside.persisted - beside.first), "msg/s",
         base, ">=0.5 x mosquitto_sub", baseline_is="mosquitto_sub, same run", messages=total,
         publisher="mosquitto_pub -l")
    # the chain figures are polled (10 ms), so they are at most that much pessimistic
    line("chain", f"service_e2e_beside_sub_{case}", total / (beside.chained - beside.first),
         "tx/s", base, None, baseline_is="mosquitto_sub msg/s, same run",
         path="MQTT in -> admitted -> in a signed, fsynced block, mosquitto_sub beside the edge")
    line("chain", f"service_e2e_{case}", median(e for _, e in pairs), "tx/s",
         median(b for b, _ in pairs), ">=20000",
         baseline_is="mosquitto_sub msg/s alone on the same input, same run",
         path="MQTT in -> admitted -> in a signed, fsynced block, the edge the only subscriber",
         runs=[{"mosquitto_sub": round(b), "edge": round(e)} for b, e in pairs],
         figures=f"medians of {repeats} pairs of runs")


def paced_publisher(port: int, schedule: list[tuple[int, int, bytes]]) -> None:
    """Send each pre-signed (send_ms, gw, payload) at its time; never early."""
    import paho.mqtt.client as paho

    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"paced-{os.getpid()}")
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = []
    for send_ms, g, payload in schedule:
        delay = send_ms / 1000 - time.time()
        if delay > 0:
            time.sleep(delay)
        infos.append(c.publish(topic(g), payload, qos=1))
    for i in infos:
        i.wait_for_publish(120)
    c.loop_stop()
    c.disconnect()


def presigned_schedule(n_gw: int, seconds: int) -> list[tuple[int, int, bytes]]:
    """(send_ms, gw, payload) signed ahead, starting after the signing is done.

    Gateway g sends at phase g/n_gw of every second with ts = its scheduled send
    time. Signing 20,000 messages can take longer than a fixed lead on a loaded
    host; the first messages would then leave late and count the bench's own
    delay as latency. So the lead is checked, and the schedule signed again with
    twice the time it took when the first send time has come too close.
    """
    lead_ms = 3000
    while True:
        began = time.time()
        start = int(began * 1000) + lead_ms
        schedule = [(t, g, message(g, k + 1, t))
                    for k in range(seconds) for g in range(n_gw)
                    for t in (start + k * 1000 + g * 1000 // n_gw,)]
        if time.time() * 1000 < start - 500:
            return schedule
        lead_ms = int(2000 * (time.time() - began)) + 1000


def bench_latency(n_gw: int, seconds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        broker, port = start_broker(d)
        edge = None
        try:
            edge = start_edge(site_toml(d, port, n_gw))
            edge_ready(d, edge, port)
            schedule = presigned_schedule(n_gw, seconds)
            paced_publisher(port, schedule)
            inbox = d / "data" / "inbox.db"
            wait_until("persisted", persisted(inbox), len(schedule), 120, edge)
            rss = peak_rss_mb(edge.pid)
            con = sqlite3.connect(inbox)
            lat = sorted(s - t for s, t in
                         con.execute(f"SELECT stored_ms, ts FROM inbox WHERE {NOT_PROBE}"))
            con.close()
        finally:
            stop(edge)
            stop(broker)

    def p(q: float) -> int:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    case = f"{n_gw}_gateways_1hz_{seconds}s"
    line("ingest", f"latency_p50_{case}", p(0.50), "ms", None, None, messages=len(lat))
    line("ingest", f"latency_p99_{case}", p(0.99), "ms", None, "<100", messages=len(lat))
    line("ingest", f"edge_peak_rss_{case}", rss, "MB", None, "<256")


def main() -> None:
    a = args(__doc__.splitlines()[0])
    if not all(TOOLS):
        print(json.dumps({"bench": "ingest", "case": "skipped", "value": None, "unit": None,
                          "baseline": None, "ratio": None, "target": None,
                          "note": "mosquitto, mosquitto_pub or mosquitto_sub not installed"}))
        return
    if a.quick:
        bench_rate(4, 500, 1)
        bench_latency(200, 3)
    else:
        bench_rate(20, 2000, 3)
        bench_latency(1000, 20)


if __name__ == "__main__":
    main()
