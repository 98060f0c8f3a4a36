"""Build and load the hls/ kernels as a shared library for the sim back end.

The library is the very C++ that Vitis synthesises (hls/sha256.cpp,
hls/clearing.cpp) plus a C ABI shim (hls/sim_abi.cpp), compiled with g++ on
first use into a cache directory keyed by a hash of the sources and flags, so
an edit to a kernel rebuilds it and nothing stale is ever loaded. The build
writes to a temporary name and renames, so concurrent first uses are safe.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from .errors import PlUnavailable

SOURCES = ("sha256.cpp", "clearing.cpp", "sim_abi.cpp")
HEADERS = ("sha256.h", "clearing.h")
#: hls/sim_abi.cpp's ce_abi_version(): 2 since clearing takes 64-bit words and two work buffers.
ABI_VERSION = 2
FLAGS = ("-std=c++14", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
         "-Wno-unknown-pragmas")


def hls_dir() -> Path:
    """The kernel sources: $CARBON_EDGE_HLS, else the source checkout's hls/ (edge.pl.regmap)."""
    from .regmap import RegmapError, hls_path

    try:
        return hls_path()
    except RegmapError as exc:
        raise PlUnavailable(str(exc)) from None


def cache_dir() -> Path:
    """CARBON_EDGE_PL_CACHE, else the user's cache folder: never the package or checkout."""
    env = os.environ.get("CARBON_EDGE_PL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carbon-edge" / "pl"


def compiler() -> str:
    cxx = os.environ.get("CXX") or "g++"
    path = shutil.which(cxx)
    if not path:
        raise PlUnavailable(
            f"the sim back end compiles hls/ with a C++ compiler, and {cxx!r} is not installed "
            "(apt-get install g++, or set CXX)"
        )
    return path


def library_path(cache: Path | None = None) -> Path:
    """Where the library for the current sources lives (built or not)."""
    src = hls_dir()
    h = hashlib.sha256(" ".join(FLAGS).encode())
    for name in SOURCES + HEADERS:
        try:
            h.update(name.encode() + b"\0" + (src / name).read_bytes())
        except FileNotFoundError:
            raise PlUnavailable(f"kernel source {src / name} not found (set CARBON_EDGE_HLS)") \
                from None
    return (cache or cache_dir()) / f"libcarbon_pl-{h.hexdigest()[:16]}.so"


def build(cache: Path | None = None) -> Path:
    """Compile the kernels unless the library for these exact sources exists; return it."""
    target = library_path(cache)
    if target.exists():
        return target
    cxx = compiler()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    cmd = [cxx, *FLAGS, "-o", tmp, *(str(hls_dir() / s) for s in SOURCES)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        os.unlink(tmp)
        raise PlUnavailable(f"compiling the PL kernels failed:\n{proc.stderr.strip()}")
    os.replace(tmp, target)
    return target


@lru_cache(maxsize=4)
def load(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    u32, vp = ctypes.c_uint32, ctypes.c_void_p
    lib.ce_sha256_batch.argtypes = [vp, vp, vp, u32, u32]
    lib.ce_sha256_batch.restype = None
    lib.ce_clearing.argtypes = [vp, vp, vp, vp, u32, u32, u32]
    lib.ce_clearing.restype = None
    lib.ce_abi_version.restype = u32
    if lib.ce_abi_version() != ABI_VERSION:
        raise PlUnavailable(
            f"{path} has ABI version {lib.ce_abi_version()}, expected {ABI_VERSION}")
    return lib


def library(cache: Path | None = None) -> ctypes.CDLL:
    """The kernels, built on first use."""
    return load(str(build(cache)))
