"""The README's command block runs as written, in order, in a fresh folder.

The block is read from README.md itself, so a command that changes and a
README that does not fail here together. Each line runs under bash (as when
pasted) in a temporary folder holding a copy of docs/, with
`.venv/bin/carbon-edge` pointing at this checkout's code. Lines marked
"serves until Ctrl-C" are started, checked to be serving, and stopped with
Ctrl-C (SIGINT), which must end them cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
SERVES = "# serves until Ctrl-C"


def readme_block() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Command line", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "docs", d / "docs")
    (d / ".venv" / "bin").mkdir(parents=True)
    exe = d / ".venv" / "bin" / "carbon-edge"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m edge.cli "$@"\n')
    exe.chmod(0o755)
    return d


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def serve_and_stop(cmd: str, cwd: Path) -> None:
    hub = " hub serve" in cmd
    if hub and not port_free(8000):
        pytest.skip("port 8000, the hub's default, is taken on this machine")
    p = subprocess.Popen(["bash", "-c", f"exec {cmd}"], cwd=cwd, env=env(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        serving = False
        while time.monotonic() < deadline and p.poll() is None and not serving:
            if hub:
                try:
                    serving = httpx.get("http://127.0.0.1:8000/healthz", timeout=1).is_success
                except httpx.HTTPError:
                    pass
            else:
                serving = bool(p.stdout and p.stdout.readline().strip())
            time.sleep(0.2)
        assert p.poll() is None and serving, f"{cmd!r} is not serving:\n{p.communicate()[0]}"
        os.killpg(p.pid, signal.SIGINT)
        code = p.wait(30)
        assert code in (0, 130, -signal.SIGINT), f"{cmd!r} ended {code} on Ctrl-C"
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_the_block_is_there_and_uses_the_entry_point():
    lines = readme_block()
    assert len(lines) >= 10
    assert all(line.startswith(".venv/bin/carbon-edge") for line in lines)


def test_readme_commands_run_in_order(folder):
    for line in readme_block():
        cmd = line.split(SERVES)[0].strip()
        if SERVES in line:
            serve_and_stop(cmd, folder)
            continue
        r = subprocess.run(["bash", "-c", cmd], cwd=folder, env=env(), capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, f"{cmd!r} exited {r.returncode}:\n{r.stdout[-800:]}\n" \
                                  f"{r.stderr[-1500:]}"
