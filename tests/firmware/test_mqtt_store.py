"""The MQTT client against Mosquitto (PUBACK, keepalive, will, TLS + ACL) and the on-flash queue."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.firmware.conftest import device_entries
from tests.kit.firmware import MICROPYTHON, gateway_config, mp_env, run_mp

CLIENT = """
import asyncio, json, time
from gateway import mqtt
acks = []
async def main():
    c = mqtt.Client("t1", "127.0.0.1", {port}, keepalive={ka}, on_puback=acks.append,
                    will=("w/t1", b"gone", 1, True))
    await c.connect()
    pids = []
    for i in range(20):
        pids.append(await c.publish("t/x", b"m%d" % i, 1))
    await c.publish("t/x", b"q0", 0)
    await asyncio.sleep_ms({idle_ms})
    print(json.dumps({{"pids": pids, "acks": acks, "alive": c.connected}}))
    {tail}
asyncio.run(main())
"""


def test_qos1_pubacks_and_keepalive(broker):
    got = []
    sub = broker.paho()
    sub.on_message = lambda c, u, m: got.append(m.payload)
    sub.subscribe("t/x", 1)
    sub.loop_start()
    time.sleep(0.3)
    # keepalive 1 s, then 4 s idle: without PINGREQs Mosquitto would drop us after 1.5 s
    out = run_mp(CLIENT.format(port=broker.port, ka=1, idle_ms=4000,
                               tail="await c.disconnect()")).stdout
    res = json.loads(out.strip().splitlines()[-1])
    assert res["pids"] == list(range(1, 21))
    assert sorted(res["acks"]) == res["pids"]  # every QoS 1 publish was acknowledged
    assert res["alive"] is True
    time.sleep(0.3)
    sub.loop_stop()
    assert got == [b"m%d" % i for i in range(20)] + [b"q0"]


def test_last_will_delivered_when_killed(broker):
    will = []
    sub = broker.paho()
    sub.on_message = lambda c, u, m: will.append(m.payload)
    sub.subscribe("w/t1", 1)
    sub.loop_start()
    time.sleep(0.3)
    code = CLIENT.format(port=broker.port, ka=1, idle_ms=100,
                         tail="await asyncio.sleep_ms(60000)")
    p = subprocess.Popen([MICROPYTHON, "-c", code], env=mp_env(), stdout=subprocess.PIPE)
    assert p.stdout.readline()  # connected and published
    p.kill()
    p.wait()
    end = time.monotonic() + 10
    while not will and time.monotonic() < end:
        time.sleep(0.1)
    sub.loop_stop()
    assert will == [b"gone"]


def test_tls_client_certificates_and_acl(device_servers, broker_factory, firmware_factory,
                                         collector_factory):
    broker = broker_factory(tls=True, acl=True, gateways=["gw-01", "gw-02"])
    ds = device_servers(meters=1, batteries=0, accel=10.0)
    col = collector_factory(broker)
    fw = firmware_factory(gateway_config(broker, device_entries(ds, 1, 0), clock={"accel": 10},
                                         interval_s=10, telemetry_every=2))
    col.wait(lambda c: len(c.messages("telemetry")) >= 2, 30, "telemetry over TLS")
    assert fw.events("mqtt_connected")
    # gw-01's certificate may not write gw-02's topics: the broker drops the publish
    spoof = run_mp(
        "import asyncio, json\nfrom gateway import mqtt\nfrom gateway.link import tls_context\n"
        f"tls = json.loads({json.dumps(json.dumps(broker.tls_for('gw-01')))})\n"
        "acks = []\n"
        "async def main():\n"
        f"    c = mqtt.Client('spoof', '127.0.0.1', {broker.port}, 5, tls_context(tls),"
        " 'localhost', on_puback=acks.append)\n"
        "    await c.connect()\n"
        "    await c.publish('site/s1/gw/gw-02/telemetry', b'{}', 1)\n"
        "    await asyncio.sleep_ms(500)\n"
        "    print(json.dumps(acks))\n"
        "asyncio.run(main())\n"
    ).stdout
    assert json.loads(spoof.strip().splitlines()[-1]) == [1]  # acked, but not delivered
    time.sleep(0.5)
    assert not [t for t, _, _ in col.raw if "gw-02" in t]
    # without a client certificate the broker refuses the connection
    with pytest.raises(AssertionError, match="micropython exited"):
        run_mp(
            "import asyncio, json\nfrom gateway import mqtt\nfrom gateway.link import tls_context\n"
            f"tls = {{'ca': '{broker.certs.ca}'}}\n"
            "async def main():\n"
            f"    c = mqtt.Client('nocert', '127.0.0.1', {broker.port}, 5, tls_context(tls),"
            " 'localhost')\n"
            "    await c.connect()\n"
            "asyncio.run(main())\n", timeout=30)


QUEUE = """
import json, os
from gateway.store import Queue
c = {{}}
q = Queue("q", max_bytes={max_bytes}, seg_records=4, counters=c)
{body}
"""


def test_queue_survives_kill_and_acks_in_order(tmp_path):
    # write 10 records, ack 5, then leave a torn half-written line: as after SIGKILL
    run_mp(QUEUE.format(max_bytes=100000, body=(
        "for i in range(10):\n"
        "    q.append(json.dumps({'type': 'telemetry', 'seq': i}).encode())\n"
        "for i in range(5):\n"
        "    q.ack_head()\n"
        "f = open('q/%08d.q' % q.segs[-1].idx, 'ab')\n"
        "f.write(b'0000abcd {\"type\": \"tel'); f.close()\n"
    )), cwd=tmp_path)
    out = run_mp(QUEUE.format(max_bytes=100000, body=(
        "print(json.dumps([q.pending(), [json.loads(q.read(i))['seq'] for i in range(q.pending())],"
        " c, sorted(os.listdir('q'))]))"
    )), cwd=tmp_path).stdout
    pending, seqs, counters, files = json.loads(out.strip().splitlines()[-1])
    assert pending == 5 and seqs == [5, 6, 7, 8, 9]
    assert counters == {"q_torn": 1}
    assert "00000001.q" not in files  # the fully acked first segment is gone


def test_queue_full_drops_oldest_telemetry_never_open_bids(tmp_path):
    out = run_mp(QUEUE.format(max_bytes=1024, body=(
        "ok = []\n"
        "ok.append(q.append(json.dumps({'type': 'bid', 'seq': 0, 'interval': 100}).encode(),"
        " 'bid', 100, 100))\n"
        "ok.append(q.append(json.dumps({'type': 'bid', 'seq': 1, 'interval': 50}).encode(),"
        " 'bid', 50, 100))\n"
        "for i in range(2, 40):\n"
        "    m = {'type': 'telemetry', 'seq': i, 'pad': 'x' * 20}\n"
        "    ok.append(q.append(json.dumps(m).encode(),"
        " 'telemetry', None, 100))\n"
        "kept = [json.loads(q.read(i)) for i in range(q.pending())]\n"
        "print(json.dumps([ok, [m['seq'] for m in kept], c, q.total_bytes]))"
    )), cwd=tmp_path).stdout
    ok, kept, counters, total = json.loads(out.strip().splitlines()[-1])
    assert all(ok)
    assert 0 in kept and 1 not in kept  # the open interval's bid stays, the stale one goes
    assert kept[-1] == 39 and kept == sorted(kept)  # newest telemetry kept, order kept
    assert counters["q_drop_old_bid"] == 1 and counters["q_drop_telemetry"] >= 1
    assert total <= 1024
    assert len(kept) - 1 + counters["q_drop_telemetry"] == 38  # every telemetry kept or counted


def test_bad_config_names_the_field(tmp_path, firmware_factory):
    cfg = gateway_config(None, [{"name": "m1", "kind": "meter", "port": 502, "unit": 1,
                                 "max_w": 0}])
    fw = firmware_factory(cfg)
    fw.proc.wait(20)
    time.sleep(0.2)
    assert fw.proc.returncode == 2
    assert "devices[0].max_w: expected an integer in 1..100000000, got 0" in fw.tail()
