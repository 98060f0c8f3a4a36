"""The edge hub service as a real subprocess (`python -m edge.cli edge run`).

`edge_factory(broker, gateways={...}, **overrides)` writes a site.toml in a
fresh folder (TLS client certificate "edge" when the broker has TLS, a new
edge key, the status page on a free port) and returns an ``Edge`` with
start(), stop() (SIGTERM: graceful), kill() (SIGKILL), restart(),
status() (GET /api/status over real HTTP) and wait(pred). Overrides are
merged per TOML section, e.g. ``market={"interval_s": 60}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.chain.keys import generate_key, public_id, save_private_key
from simulator.procs import free_port

ROOT = Path(__file__).resolve().parents[2]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def to_toml(doc: dict[str, Any]) -> str:
    """Enough TOML for site files: tables of scalars and arrays of tables."""
    out: list[str] = []
    for name, body in doc.items():
        if isinstance(body, list):
            for item in body:
                out.append(f"[[{name}]]")
                out += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
                out.append("")
        else:
            out.append(f"[{name}]")
            out += [f"{k} = {_toml_value(v)}" for k, v in body.items()]
            out.append("")
    return "\n".join(out)


class Edge:
    def __init__(self, directory: Path, doc: dict[str, Any]) -> None:
        self.dir = directory
        self.doc = doc
        self.config = directory / "site.toml"
        self.config.write_text(to_toml(doc))
        self.data = Path(doc["site"]["data_dir"])
        self.proc: subprocess.Popen | None = None
        self.port = doc["status"]["port"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.key_path = Path(doc["site"]["edge_key"])
        self.edge_id = ""

    def start(self, wait: bool = True, env: dict[str, str] | None = None) -> Edge:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "edge", "run", "--config", str(self.config)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "edge.log", "ab"),
        )
        if wait:
            self.wait(lambda s: s["broker_connected"], timeout=30)
        return self

    def status(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/status", timeout=5).json()

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=5)

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 30.0,
             what: str = "condition") -> dict[str, Any]:
        end = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"edge exited {self.proc.returncode}:\n{self.log()}")
            try:
                last = self.status()
                if pred(last):
                    return last
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"edge: no {what} within {timeout} s; last status "
                             f"{json.dumps(last)[:2000]}\n{self.log()}")

    def log(self, n: int = 4000) -> str:
        p = self.dir / "edge.log"
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return None if self.proc is None else self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def restart(self) -> Edge:
        self.kill()
        return self.start()


def edge_doc(directory: Path, broker: Any, gateways: dict[str, str], site: str = "s1",
             **overrides: dict[str, Any]) -> dict[str, Any]:
    """A site document for a test: fast blocks, the status page on a free port."""
    key = generate_key()
    save_private_key(key, directory / "edge.pem")
    mqtt: dict[str, Any] = {"host": "127.0.0.1", "port": broker.port,
                            "client_id": f"edge-{free_port()}", "tls": bool(broker.tls),
                            "reconnect_min_s": 0.2, "reconnect_max_s": 2}
    if broker.tls:
        cert, keyfile = broker.certs.clients["edge"]
        mqtt.update(ca=str(broker.certs.ca), cert=str(cert), key=str(keyfile))
    doc: dict[str, Any] = {
        "site": {"id": site, "data_dir": str(directory / "data"),
                 "edge_key": str(directory / "edge.pem")},
        "mqtt": mqtt,
        "market": {"interval_s": 900, "gate_s": 60, "round_s": 10, "max_rounds": 3},
        "blocks": {"max_txs": 500, "max_age_s": 0.5},
        "pl": {"backend": "cpu"},
        "status": {"host": "127.0.0.1", "port": free_port()},
        "log": {"json": True, "level": "info"},
        "gateways": [{"id": g, "key_hex": k} for g, k in gateways.items()],
    }
    for section, values in overrides.items():
        if isinstance(values, list) or section not in doc:
            doc[section] = values
        else:
            doc[section] = {**doc[section], **values}
    doc["_edge_id"] = public_id(key.public_key())
    return doc


@pytest.fixture
def edge_factory(tmp_path_factory):
    made: list[Edge] = []

    def make(broker: Any, gateways: dict[str, str], start: bool = True,
             **overrides: dict[str, Any]) -> Edge:
        d = tmp_path_factory.mktemp("edge")
        doc = edge_doc(d, broker, gateways, **overrides)
        edge_id = doc.pop("_edge_id")
        e = Edge(d, doc)
        e.edge_id = edge_id
        made.append(e)
        return e.start() if start else e

    yield make
    for e in made:
        e.kill()


class LoopbackLink:
    """A message link with no broker: the test puts messages in, the edge's output is kept.

    Implements ``edge.runtime.ingest.Link``; lets a test build and drive the whole
    edge service in-process (clock leaps, no network).
    """

    def __init__(self) -> None:
        import queue
        import threading

        self.inbound: queue.Queue = queue.Queue()
        self.connected = threading.Event()
        self.published: list[tuple[str, bytes, bool]] = []
        self.acked: list[int] = []
        self._mid = 0

    def start(self) -> None:
        self.connected.set()

    def stop_taking(self) -> None:
        pass

    def stop(self) -> None:
        self.connected.clear()

    def ack(self, batch) -> None:
        self.acked.extend(m.mid for m in batch)

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        self.published.append((topic, payload, retain))

    def deliver(self, topic: str, payload: bytes, recv_ms: int) -> int:
        """Hand the edge one QoS 1 message as the broker would; returns its message id."""
        from edge.runtime.ingest import Incoming

        self._mid += 1
        self.inbound.put(Incoming(topic, payload, self._mid, 1, recv_ms))
        return self._mid


def loopback_edge(directory: Path, site_id: str, keys: dict[str, bytes], start_ms: int,
                  **sections: dict[str, Any]) -> tuple[Any, Any, LoopbackLink]:
    """An edge service in-process, on a stepped wall clock and a ``LoopbackLink``: no broker,
    no status page, one round, blocks of up to 1,000 txs or 30 s. ``sections`` update those
    defaults section by section (``market={"sealed": True}``). Returned not started, with
    its clock and link, so a test can drive time and messages."""
    from edge.clock import Clock, SteppedWall
    from edge.runtime.config import parse_config
    from edge.runtime.service import EdgeService

    save_private_key(generate_key(), directory / "edge.pem")
    doc: dict[str, Any] = {
        "site": {"id": site_id, "data_dir": str(directory / "data"),
                 "edge_key": str(directory / "edge.pem")},
        "mqtt": {"tls": False},
        "market": {"interval_s": 900, "gate_s": 60, "round_s": 10, "max_rounds": 1},
        "blocks": {"max_txs": 1000, "max_age_s": 30},
        "pl": {"backend": "cpu"},
        "status": {"enabled": False},
        "gateways": [{"id": g, "key_hex": k.hex()} for g, k in keys.items()],
    }
    for name, values in sections.items():
        doc[name] = {**doc[name], **values}
    wall = SteppedWall(start_ms)
    link = LoopbackLink()
    return EdgeService(parse_config(doc), clock=Clock(wall=wall), link=link), wall, link


def wait_until(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"no {what} within {timeout} s")


def result_of(payload: bytes) -> dict[str, Any]:
    """A published result frame read as a gateway reads it, as one dict (the header's members
    and the decoded ``fills``): the block checked against the header's count and SHA-256,
    the header against the ClearingResult model and its signature, every fill against
    FillOut. Anything else raises."""
    from edge.protocol.auth import check_signature
    from edge.protocol.fills import read
    from edge.protocol.messages import ClearingResult, FillOut

    out = read(payload)
    header = header_of(out)
    ClearingResult.model_validate(header)
    check_signature(header)
    for f in out["fills"]:
        FillOut.model_validate(f)
    return out


def header_of(result: dict[str, Any]) -> dict[str, Any]:
    """A read result without its decoded fills: the signed header the edge returns and chains."""
    return {k: v for k, v in result.items() if k != "fills"}


def stored_results(db: Any, where: str = "1", args: tuple = ()) -> list[dict[str, Any]]:
    """The results an edge stored, read from its inbox with a plain sqlite3 connection: each
    the signed header with its ``fills`` decoded from the stored block, by interval and round.
    ``where``: an SQL condition on the results table (e.g. ``"final = 1"``)."""
    from edge.protocol.fills import decode

    rows = db.execute(f"SELECT r.raw, f.block, interval FROM results r JOIN result_fills f "
                      f"USING (interval, round) WHERE {where} ORDER BY interval, round", args)
    return [{**json.loads(raw), "fills": decode(block, interval)}
            for raw, block, interval in rows]
