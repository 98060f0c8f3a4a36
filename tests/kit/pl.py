"""PL fixtures: the kernels compiled by the test run itself, and the simulated PL.

``pl_cache`` compiles the hls/ kernels into a fresh directory once per session
(so the suite proves the build from nothing works); ``sim`` is a SimProvider on
that library; ``csim`` builds the C-simulation test benches, whose ``--eval``
mode is the third, independent path the equality tests compare against.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

HLS = Path(__file__).resolve().parents[2] / "hls"
CXXFLAGS = ["-std=c++14", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas"]


def _need_gxx() -> str:
    gxx = shutil.which("g++")
    if not gxx:
        pytest.skip("g++ is not installed: the sim back end and the C simulation need it")
    return gxx


@pytest.fixture(scope="session")
def pl_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need_gxx()
    from edge.pl import simlib

    cache = tmp_path_factory.mktemp("pl-cache")
    lib = simlib.build(cache)
    assert lib.exists() and lib.parent == cache
    return cache


@pytest.fixture
def sim(pl_cache: Path):
    from edge.pl.sim import SimProvider

    provider = SimProvider(cache=pl_cache)
    yield provider
    for dev in provider.devices.values():  # never leave a hung worker thread behind
        dev.release()


@pytest.fixture
def sim_backend(sim):
    from edge.pl.driver import PlBackend

    return PlBackend(sim, timeout_s=10.0)


@pytest.fixture(scope="session")
def csim(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, list[str], str], str]:
    """Run a C-simulation test bench: csim(name, argv, stdin) -> stdout."""
    gxx = _need_gxx()
    out = tmp_path_factory.mktemp("csim")
    for tb, src in (("tb_sha256", "sha256.cpp"), ("tb_clearing", "clearing.cpp")):
        subprocess.run([gxx, *CXXFLAGS, "-o", str(out / tb), str(HLS / "tb" / f"{tb}.cpp"),
                        str(HLS / src)], check=True, capture_output=True)

    def run(name: str, argv: list[str], stdin: str = "") -> str:
        proc = subprocess.run([str(out / name), *argv], input=stdin, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    return run
