"""An observer on a substation's broker: what anyone allowed to read the site sees, and when.

It holds its own client certificate ("observer", read-only in the ACL the
simulator ships to its brokers) and subscribes to the whole site for the
day. It keeps the bids and round results it receives (telemetry is not
about the market and would only cost memory), each with its wall-clock
arrival time, so the sealed-bid check (simulator.sealing) can tell whether
anything readable arrived before its gate.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from edge.protocol.fills import read

NAME = "observer"


class Observer:
    def __init__(self, site: str, port: int, tls: dict[str, str]) -> None:
        import paho.mqtt.client as mqtt

        self.site = site
        self.seen: list[tuple[float, str, dict[str, Any]]] = []
        self.undecodable = 0
        self._lock = threading.Lock()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=NAME)
        c.tls_set(ca_certs=tls["ca"], certfile=tls["cert"], keyfile=tls["key"])
        c.tls_insecure_set(True)
        c.on_connect = lambda cl, *_: cl.subscribe(f"site/{site}/#", qos=1)
        c.on_message = self._on_message
        c.reconnect_delay_set(0.2, 2)
        self.client = c
        self.port = port

    def _on_message(self, _c: Any, _u: Any, m: Any) -> None:
        if not (m.topic.endswith("/bid") or m.topic.endswith("/result")):
            return
        at = time.time() * 1000
        try:  # a result is a frame: its header and fills, the block checked against it
            msg = read(m.payload) if m.topic.endswith("/result") else json.loads(m.payload)
        except ValueError:  # FillsError is one
            self.undecodable += 1
            return
        if isinstance(msg, dict):
            with self._lock:
                self.seen.append((at, m.topic, msg))

    def start(self) -> Observer:
        self.client.connect_async("127.0.0.1", self.port, 10)
        self.client.loop_start()
        return self

    def stop(self) -> list[tuple[float, str, dict[str, Any]]]:
        self.client.loop_stop()
        self.client.disconnect()
        with self._lock:
            return list(self.seen)
