"""A real Mosquitto on a free loopback port, configured by the test.

`broker_factory(tls=False, acl=False, gateways=("gw-01",), persistence=False)`
starts one and returns a `Broker` with stop()/start() (same port, same
files) for outage tests. With TLS, a CA, a server certificate for
127.0.0.1/localhost and one client certificate per gateway (CN = gateway
id, plus "edge" for the edge) are made at test time with `cryptography`;
`require_certificate` is on and the CN is the user name, so the ACL can
give each gateway write access to site/+/gw/<its id>/# only. Skips the
test when mosquitto is not installed.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from simulator.procs import free_port, stop, wait_port

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)




@dataclass
class Certs:
    """Paths of the PEM files: ca, server cert/key, client cert/key per name."""

    ca: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]] = field(default_factory=dict)


def make_certs(directory: Path, names: list[str]) -> Certs:
    """A throw-away CA, a server certificate for 127.0.0.1 and one client certificate per name."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    later = now + datetime.timedelta(days=2)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(k, path: Path) -> Path:
        path.write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        return path

    def write_cert(c, path: Path) -> Path:
        path.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carbon-edge test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, server: bool):
        k = key()
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_name)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(later)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            b = b.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return k, b.sign(ca_key, hashes.SHA256())

    certs = Certs(
        ca=write_cert(ca, directory / "ca.pem"),
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
    )
    k, c = leaf("localhost", True)
    write_cert(c, certs.server_cert)
    write_key(k, certs.server_key)
    for name in names:
        k, c = leaf(name, False)
        certs.clients[name] = (
            write_cert(c, directory / f"{name}.pem"),
            write_key(k, directory / f"{name}.key"),
        )
    return certs


def acl_text(gateways: list[str], site_pattern: str = "+") -> str:
    """Gateway X may write only site/+/gw/X/# and read results and prices; "edge" may do all."""
    lines = ["user edge", "topic readwrite #", ""]
    for gw in gateways:
        lines += [
            f"user {gw}",
            f"topic write site/{site_pattern}/gw/{gw}/#",
            f"topic read site/{site_pattern}/market/+/result",
            f"topic read site/{site_pattern}/price",
            "",
        ]
    return "\n".join(lines)


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
        self.certs: Certs | None = make_certs(self.dir / "certs", self.gateways + ["edge"]) \
            if tls else None
        conf = [f"listener {self.port} 127.0.0.1", "log_type error", "log_type warning",
                "log_type notice", "log_dest file " + str(self.dir / "mosquitto.log"),
                "max_queued_messages 100000", "max_inflight_messages 100"]
        if os.geteuid() == 0:
            # as root, mosquitto drops to user "mosquitto", who cannot read the test's tmp dir
            conf.append("user root")
        conf.append(f"persistence {'true' if persistence else 'false'}")
        if persistence:
            conf.append(f"persistence_location {self.dir}/")
        if tls:
            assert self.certs is not None
            conf += [
                f"cafile {self.certs.ca}",
                f"certfile {self.certs.server_cert}",
                f"keyfile {self.certs.server_key}",
                "require_certificate true",
                "use_identity_as_username true",
            ]
        if acl:
            (self.dir / "acl").write_text(acl_text(self.gateways))
            conf.append(f"acl_file {self.dir / 'acl'}")
        if not tls:
            conf.append("allow_anonymous true")
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
