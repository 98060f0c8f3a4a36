"""A real Mosquitto on a free loopback port, configured by the test.

`broker_factory(tls=False, acl=False, gateways=("gw-01",), persistence=False)`
starts one and returns a `Broker` with stop()/start() (same port, same
files) and kill() (SIGKILL) for outage tests. The configuration is the
site's own (simulator.broker.config_lines): with TLS, a CA, a server
certificate for 127.0.0.1/localhost and one client certificate per gateway
(CN = gateway id), "edge" for the edge and "watch" for a test's read-only
observer are made at test time; the CN is the user name and the client id,
so the ACL gives each gateway write access to site/+/gw/<its id>/# only and
no certificate can take over another's session. With persistence, the
database is saved after every change. Skips the test when mosquitto is not
installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from simulator.broker import Certs, acl_text, config_lines, make_certs
from simulator.procs import free_port, stop, wait_port

__all__ = ["MOSQUITTO", "Broker", "Certs", "acl_text", "make_certs"]

#: the test's read-only observer identity (reads every topic, writes none)
WATCH = "watch"

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)


class Broker:
    """One Mosquitto process; stop() and start() keep its port and files."""

    def __init__(self, directory: Path, tls: bool, acl: bool, gateways: list[str],
                 persistence: bool = False) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.tls = tls
        self.gateways = list(gateways)
        self.certs: Certs | None = make_certs(
            self.dir / "certs", self.gateways + ["edge", WATCH]) if tls else None
        acl_path = None
        if acl:
            acl_path = self.dir / "acl"
            acl_path.write_text(acl_text(self.gateways, readers=(WATCH,)))
        conf = config_lines(self.port, self.dir, self.certs, acl_path, persistence)
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text("\n".join(conf) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "mosquitto.stderr", "ab"),
        )
        if not wait_port(self.port, up=True):
            self.stop()
            raise RuntimeError(f"mosquitto did not start: {self.log()}")
        return self

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None
        wait_port(self.port, up=False, timeout=5)

    def kill(self) -> None:
        """Hard stop (SIGKILL): the network drop as the clients see it."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        p = self.dir / "mosquitto.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""

    def tls_for(self, name: str) -> dict:
        """The firmware's mqtt.tls config block for client `name`."""
        assert self.certs is not None, "broker started without TLS"
        cert, key = self.certs.clients[name]
        return {"ca": str(self.certs.ca), "cert": str(cert), "key": str(key),
                "server_hostname": "localhost"}

    def paho(self, name: str = "edge", **kw):
        """A connected paho-mqtt client (TLS with `name`'s certificate when the broker has TLS)."""
        import paho.mqtt.client as paho

        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{name}-{free_port()}",
                        protocol=paho.MQTTv311, **kw)
        if self.tls:
            assert self.certs is not None
            cert, key = self.certs.clients[name]
            c.tls_set(ca_certs=str(self.certs.ca), certfile=str(cert), keyfile=str(key))
        c.connect(self.host, self.port, keepalive=30)
        return c


@pytest.fixture
def broker_factory(tmp_path_factory):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    made: list[Broker] = []

    def make(tls: bool = False, acl: bool = False, gateways=("gw-01",),
             persistence: bool = False) -> Broker:
        b = Broker(tmp_path_factory.mktemp("broker"), tls, acl, list(gateways), persistence)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def broker(broker_factory) -> Broker:
    """A plain (no TLS, no ACL) broker on a free loopback port."""
    return broker_factory()
