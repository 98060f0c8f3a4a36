"""`make demo`: the whole system comes up, both pages answer, and Ctrl-C stops every part."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from simulator.procs import wait_port

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (Path("/usr/sbin/mosquitto").exists() or
                         any(Path(p, "mosquitto").exists()
                             for p in os.environ.get("PATH", "").split(":"))),
                    reason="mosquitto is not installed (apt-get install mosquitto)")
def test_demo_serves_both_pages_and_stops_on_ctrl_c(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "simulator", "run", "--scenario", "demo",
                          "--out", str(tmp_path / "run")], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    urls: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 180
        while len(urls) < 2 and time.monotonic() < deadline and p.poll() is None:
            line = p.stdout.readline()
            m = re.search(r"^(hub|substation demo): .*?(http://127\.0\.0\.1:\d+)/", line)
            if m:
                urls[m.group(1).split()[0]] = m.group(2)
        assert set(urls) == {"hub", "substation"}, f"no addresses printed: {urls}"
        hub = httpx.get(urls["hub"] + "/", timeout=10)
        edge = httpx.get(urls["substation"] + "/", timeout=10)
        assert hub.status_code == 200 and edge.status_code == 200
        assert "Edge hub demo" in edge.text
        os.killpg(p.pid, signal.SIGINT)
        assert p.wait(60) == 130
        for url in urls.values():
            port = int(url.rsplit(":", 1)[1])
            assert wait_port(port, up=False, timeout=10), f"{url} still answers after Ctrl-C"
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
