"""Helpers for the firmware tests: a gateway wired to simulated devices and a broker."""

from __future__ import annotations

import json
import threading
import time

import pytest

from edge.protocol.auth import check_tag
from edge.protocol.codec import decode
from tests.kit.firmware import TEST_KEY_HEX, gateway_config

KEY = bytes.fromhex(TEST_KEY_HEX)


def device_entries(ds, meters: int, batteries: int, transport: str = "tcp",
                   **extra) -> list:
    """Firmware device configs for a config_from_flags fleet (units 1..M, then batteries)."""
    out = []
    if transport == "tcp":
        host, port = ds.tcp()
        where = {"host": host, "port": port}
    else:
        where = {"transport": "rtu", "uart": ds.rtu_path(), "baud": 19200}
    for u in range(1, meters + batteries + 1):
        kind = "meter" if u <= meters else "battery"
        max_w = (20000 if u % 5 == 0 else 6000) if kind == "meter" else 5000
        out.append({"name": f"{kind[0]}{u}", "kind": kind, "unit": u, "max_w": max_w,
                    **where, **extra})
    return out


class Collector:
    """A paho subscriber that decodes and tag-checks everything the gateway sends."""

    def __init__(self, broker, topic: str = "site/#", durable: bool = False) -> None:
        import paho.mqtt.client as paho

        self.raw: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        kw = {"clean_session": False} if durable else {}
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"collector-{id(self)}",
                             protocol=paho.MQTTv311, **kw)
        if broker.tls:
            cert, key = broker.certs.clients["edge"]
            self.c.tls_set(ca_certs=str(broker.certs.ca), certfile=str(cert), keyfile=str(key))
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect
        self.c.reconnect_delay_set(0.1, 0.5)
        self.topic = topic
        self.c.connect(broker.host, broker.port, keepalive=10)
        self.c.loop_start()
        assert self.connected.wait(10), "collector could not connect"

    def _on_connect(self, client, userdata, flags, rc, props=None):
        client.subscribe(self.topic, qos=1)
        self.connected.set()

    def _on_message(self, client, userdata, m):
        with self.lock:
            self.raw.append((m.topic, bytes(m.payload), bool(m.retain)))

    def messages(self, kind: str | None = None) -> list[dict]:
        """Every gateway message so far, validated and tag-checked (raises on any failure)."""
        out = []
        with self.lock:
            raw = list(self.raw)
        for topic, payload, _ in raw:
            if "/gw/" not in topic:
                continue
            d = decode(payload)
            check_tag(d.raw, KEY)
            assert topic.endswith("/" + d.raw["type"]), (topic, d.raw["type"])
            if kind is None or d.raw["type"] == kind:
                out.append(d.raw)
        return out

    def wait(self, pred, timeout: float = 30.0, what: str = "messages"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = pred(self)
            if got:
                return got
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; have {len(self.raw)} messages")

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def collector_factory():
    made: list[Collector] = []

    def make(broker, **kw) -> Collector:
        c = Collector(broker, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def energy_by_interval(msgs: list[dict]) -> dict[int, dict]:
    """Deduplicated by seq: interval -> the energy block."""
    seen: dict[int, dict] = {}
    for m in msgs:
        seen[m["seq"]] = m
    out: dict[int, dict] = {}
    for seq in sorted(seen):
        m = seen[seq]
        if "energy" in m:
            iv = m["energy"]["interval"]
            assert iv not in out, f"interval {iv} reported twice (seq {seq})"
            out[iv] = m["energy"]
    return out


__all__ = ["KEY", "device_entries", "gateway_config", "energy_by_interval", "json"]
