"""A pair of linked pseudo-terminals: an RS-485 line without hardware.

Why socat rather than ``os.openpty``: one openpty gives a slave with a path
and a master with only a file descriptor, but both the pymodbus server and
any client (pymodbus, mbpoll, the MicroPython gateway) open a serial port by
path. socat links two ptys back to back and gives both ends a path, with raw
mode and no echo, which is exactly a null-modem cable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time


class PtyLinkError(RuntimeError):
    """The pty pair could not be made (socat missing or failing)."""


class PtyLink:
    """Two pty paths joined by socat: ``server_path`` <-> ``client_path``."""

    def __init__(self, name: str = "rtu", timeout_s: float = 5.0) -> None:
        socat = shutil.which("socat")
        if socat is None:
            raise PtyLinkError("socat is not installed (apt-get install socat); RTU needs it")
        self._dir = tempfile.mkdtemp(prefix=f"simdev-{name}-")
        self.server_path = os.path.join(self._dir, "server")
        self.client_path = os.path.join(self._dir, "client")
        self._proc = subprocess.Popen(
            [
                socat,
                f"pty,raw,echo=0,link={self.server_path}",
                f"pty,raw,echo=0,link={self.client_path}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while not (os.path.exists(self.server_path) and os.path.exists(self.client_path)):
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise PtyLinkError(f"socat exited with {self._proc.returncode}: {err.strip()}")
            if time.monotonic() > deadline:
                self.close()
                raise PtyLinkError(f"socat made no ptys within {timeout_s} s")
            time.sleep(0.01)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PtyLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
