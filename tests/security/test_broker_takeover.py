"""A gateway's certificate cannot take over the edge's MQTT session.

The attack: connect with a gateway's certificate but the edge's client id.
With client ids free to choose, Mosquitto kicks the edge off and, since the
user name differs, drops the edge's persistent session with every message
queued for it, messages the gateways already deleted after the PUBACK.
With `use_username_as_clientid` (simulator.broker.IDENTITY_BOUND) the
attacker's client id is its own CN, so the edge's session stays untouched.
"""

from __future__ import annotations

import sqlite3
import time

import paho.mqtt.client as paho

from simulator.broker import IDENTITY_BOUND, config_lines
from tests.edge.helpers import telemetry, topic

GWS = {"gw-01": bytes([1]) * 32, "gw-02": bytes([2]) * 32}
EDGE_CLIENT_ID = "carbon-edge"  # the edge's default, fixed and public


def attacker(broker, cert_of: str) -> tuple[paho.Client, list]:
    """A client with `cert_of`'s certificate claiming the edge's client id."""
    codes: list = []
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=EDGE_CLIENT_ID,
                    clean_session=True, protocol=paho.MQTTv311)
    cert, key = broker.certs.clients[cert_of]
    c.tls_set(ca_certs=str(broker.certs.ca), certfile=str(cert), keyfile=str(key))
    c.on_connect = lambda _c, _u, _f, rc, _p=None: codes.append(rc)
    c.connect(broker.host, broker.port, keepalive=30)
    c.loop_start()
    end = time.monotonic() + 10
    while not codes and time.monotonic() < end:
        time.sleep(0.02)
    return c, codes


def test_every_shipped_tls_config_binds_client_ids(tmp_path):
    from simulator.broker import make_certs

    certs = make_certs(tmp_path / "certs", ["gw-01"])
    lines = config_lines(1883, tmp_path, certs, tmp_path / "acl")
    for setting in IDENTITY_BOUND:
        assert setting in lines
    # the installer's config in the docs says the same
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "edge-install.md").read_text()
    for setting in (*IDENTITY_BOUND, "autosave_on_changes true", "autosave_interval 1"):
        assert setting in doc, setting


def test_gateway_certificate_cannot_take_over_the_edge_session(broker_factory, edge_factory):
    broker = broker_factory(tls=True, acl=True, gateways=list(GWS), persistence=True)
    edge = edge_factory(broker, {g: k.hex() for g, k in GWS.items()},
                        mqtt={"client_id": EDGE_CLIENT_ID},
                        admission={"past_s": 3600, "future_s": 600})
    # 1. while the edge is up: the attacker does not kick it off
    evil, codes = attacker(broker, "gw-02")
    assert codes and not codes[0].is_failure
    time.sleep(1.0)
    assert "disconnected from broker" not in edge.log()
    assert "as gw-02" in broker.log()  # the broker renamed the attacker to its own CN
    evil.loop_stop()
    evil.disconnect()
    # 2. the edge is down; gw-01 sends 50 messages, each confirmed by a PUBACK
    assert edge.stop() == 0
    gw = broker.paho("gw-01")
    gw.loop_start()
    now = int(time.time() * 1000)
    for seq in range(1, 51):
        info = gw.publish(topic("gw-01", "telemetry"), telemetry("gw-01", seq, now, GWS["gw-01"]),
                          qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    gw.loop_stop()
    gw.disconnect()
    # the attacker claims the edge's client id while the session holds the 50
    evil, codes = attacker(broker, "gw-02")
    assert codes and not codes[0].is_failure
    time.sleep(0.5)
    evil.loop_stop()
    evil.disconnect()
    # 3. the edge comes back and gets every one of them
    edge.start()
    edge.wait(lambda s: s["counters"]["accepted"].get("telemetry", 0) == 50, 20,
              "the 50 queued messages")
    assert edge.stop() == 0
    db = sqlite3.connect(edge.data / "inbox.db")
    assert [r[0] for r in db.execute("SELECT seq FROM inbox WHERE gw = 'gw-01' ORDER BY seq")] \
        == list(range(1, 51))
    db.close()
