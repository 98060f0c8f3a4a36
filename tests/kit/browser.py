"""Headless Chromium for tests that look at a page the way a person does.

`browser` renders a URL with no network beyond loopback (the same flags the
field laptop's offline case needs: no background fetches, no component
updates) and returns the DOM after scripts ran and a screenshot. Skips with
the reason when Chromium is not installed (`make setup` installs Debian's
chromium where apt-get is available).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
         # nothing outside loopback: a page that needs a CDN fails visibly
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or \
        shutil.which("google-chrome")


@dataclass
class Rendered:
    dom: str
    png: Path

    def distinct_colours(self) -> int:
        """How many different pixel colours the screenshot has (1 = blank page)."""
        import numpy as np
        from matplotlib.image import imread

        img = imread(self.png)
        flat = (img[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
        return len(np.unique(flat, axis=0))


class Browser:
    def __init__(self, exe: str, workdir: Path) -> None:
        self.exe = exe
        self.workdir = workdir
        self.n = 0

    def _run(self, url: str, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess:
        profile = tempfile.mkdtemp(prefix="chromium-", dir=self.workdir)
        return subprocess.run([self.exe, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=timeout)

    def render(self, url: str, width: int = 1280, height: int = 2000,
               wait_ms: int = 1500) -> Rendered:
        """The DOM after `wait_ms` of scripts, and a screenshot of the page."""
        self.n += 1
        png = self.workdir / f"shot-{self.n}.png"
        common = [f"--window-size={width},{height}", f"--virtual-time-budget={wait_ms}"]
        shot = self._run(url, *common, f"--screenshot={png}")
        if not png.exists():
            raise AssertionError(f"chromium made no screenshot of {url}: {shot.stderr[-500:]}")
        return Rendered(dom=self.dom(url, width, height, wait_ms), png=png)

    def dom(self, url: str, width: int = 1280, height: int = 2000, wait_ms: int = 1500) -> str:
        """The DOM after `wait_ms` of scripts (one browser start, no screenshot)."""
        return self._run(url, f"--window-size={width},{height}",
                         f"--virtual-time-budget={wait_ms}", "--dump-dom").stdout


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    exe = chromium_path()
    if exe is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return Browser(exe, tmp_path_factory.mktemp("browser"))
