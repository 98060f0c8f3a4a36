"""A command whose stderr is a real terminal (a pseudo-terminal), stdout a pipe.

Progress bars appear only on a terminal; this is how a test sees what a person
at one sees, and checks that stdout, which scripts parse, stays clean.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TtyRun:
    returncode: int
    stdout: str
    stderr: str


def run_with_tty_stderr(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
                        timeout: float = 120, columns: int = 100) -> TtyRun:
    """Run ``cmd`` with stderr on a pseudo-terminal ``columns`` wide; collect both streams."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=slave)
    finally:
        os.close(slave)
    err = bytearray()
    out = bytearray()
    # stdout is drained on its own thread so that a long stdout never blocks the command
    reader = threading.Thread(target=lambda: out.extend(proc.stdout.read()), daemon=True)
    reader.start()
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every writer of the terminal has closed it
                break
            if not chunk:
                break
            err += chunk
        proc.wait(timeout=timeout)
        reader.join(timeout)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return TtyRun(proc.returncode, out.decode(), err.decode(errors="replace"))
