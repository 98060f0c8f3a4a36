"""The site broker's configuration: one Mosquitto config for the simulator and the test kit.

Every broker we start (the simulated substation, the test kit) and the one
docs/edge-install.md tells an installer to write share these settings, so a
hardening made here reaches all of them:

* TLS with client certificates (`require_certificate`), the certificate's CN
  as the MQTT user name (`use_identity_as_username`) and that user name as the
  client id (`use_username_as_clientid`). A client id is then bound to a
  certificate: a gateway that connects claiming the edge's client id gets its
  own CN as client id instead, so it can neither kick the edge off nor make
  the broker drop the edge's persistent session and its queued messages.
* An ACL: a gateway writes only `site/+/gw/<its id>/#` and reads results and
  prices; the edge reads and writes everything.
* Persistence saved after every change (`autosave_on_changes true`,
  `autosave_interval 1`) instead of every 30 minutes. Mosquitto writes its
  database at the end of the event-loop pass that sent the PUBACK, not before
  it: the window between an ack and the save is one loop pass (milliseconds),
  not zero. docs/edge.md ("Durability") and docs/security.md say what that
  leaves open and what closes it.

The certificates of a test or a simulated day are made here with
`cryptography`: a throw-away CA, a server certificate for 127.0.0.1 and one
client certificate per name (CN = name).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

#: Persistence that saves after every change (see the module docstring).
DURABLE = ("persistence true", "autosave_on_changes true", "autosave_interval 1")

#: A client id is the certificate's CN: no client can claim another's session.
IDENTITY_BOUND = ("require_certificate true", "use_identity_as_username true",
                  "use_username_as_clientid true")


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
    # valid from a day back: a test may run a process with its clock set minutes behind
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    later = now + datetime.timedelta(days=3)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(k, path: Path) -> Path:
        pem = k.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:  # private keys are the owner's only, as the edge checks
            fh.write(pem)
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


def acl_text(gateways: list[str], site_pattern: str = "+", readers: tuple[str, ...] = ()) -> str:
    """Gateway X may write only site/+/gw/X/# and read results, organiser keys and prices;
    "edge" may do all.

    `readers` (a test's observers) may read everything and write nothing.
    """
    lines = ["user edge", "topic readwrite #", ""]
    for r in readers:
        lines += [f"user {r}", "topic read #", ""]
    for gw in gateways:
        lines += [
            f"user {gw}",
            f"topic write site/{site_pattern}/gw/{gw}/#",
            f"topic read site/{site_pattern}/market/+/result",
            f"topic read site/{site_pattern}/market/+/key",
            f"topic read site/{site_pattern}/price",
            "",
        ]
    return "\n".join(lines)


def config_lines(port: int, directory: Path, certs: Certs | None, acl: Path | None,
                 persistence: bool = True) -> list[str]:
    """mosquitto.conf for a loopback listener on `port`, files under `directory`.

    With `certs`, the listener is the site's: TLS, identity-bound client ids,
    and the ACL when given. Without, it is a plain anonymous listener for tests
    of things other than security (client ids are then not bound: there is no
    identity to bind them to).
    """
    conf = [f"listener {port} 127.0.0.1", "log_type error", "log_type warning",
            "log_type notice", f"log_dest file {directory / 'mosquitto.log'}",
            "max_queued_messages 100000", "max_inflight_messages 100"]
    if os.geteuid() == 0:
        # as root, mosquitto drops to user "mosquitto", who cannot read a private tmp dir
        conf.append("user root")
    if persistence:
        conf += [*DURABLE, f"persistence_location {directory}/"]
    else:
        conf.append("persistence false")
    if certs is not None:
        conf += [f"cafile {certs.ca}", f"certfile {certs.server_cert}",
                 f"keyfile {certs.server_key}", *IDENTITY_BOUND]
    else:
        conf.append("allow_anonymous true")
    if acl is not None:
        conf.append(f"acl_file {acl}")
    return conf
