"""Loopback ports and child processes: what the simulator and the test kit share.

Everything here binds to 127.0.0.1 only: the simulated substation and the
tests never listen on, or talk to, any other address.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, up: bool = True, timeout: float = 10.0) -> bool:
    """Wait until 127.0.0.1:`port` accepts connections (or, with up=False, refuses them)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return True
        except OSError:
            if not up:
                return True
        time.sleep(0.05)
    return False


def stop(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def start_http_service(cmd: list[str], cwd: Path, log: Path, url: str, what: str,
                       timeout_s: float, verify: object = True) -> subprocess.Popen[bytes]:
    """Start one of our HTTP services with the checkout on its path; return once its
    /healthz answers. A process that exits or stays silent fails with its log, so a
    broken start says why instead of timing out somewhere later."""
    import httpx

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1, verify=verify).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop(proc, timeout=10)
    raise RuntimeError(f"{what} did not answer in {timeout_s} s:\n{log.read_text()}")
