"""A carbon-market oracle as a child process on loopback: what the test kit runs.

`carbon-edge carbon-market oracle-serve` in its own process, exactly as an
operator starts it, on a free port of 127.0.0.1 with its own key file and
the chain stores it reads. `stop()` and `start()` keep the port and the key.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from simulator.procs import free_port, start_http_service, stop


class OracleProcess:
    def __init__(self, workdir: Path, requesters: Mapping[str, str],
                 chains: Mapping[str, str | Path], port: int | None = None) -> None:
        from edge.chain.keys import generate_key, load_private_key, public_id, save_private_key

        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key_path = workdir / f"oracle-{self.port}.pem"
        if not self.key_path.exists():
            save_private_key(generate_key(), self.key_path)
        self.id = public_id(load_private_key(self.key_path).public_key())
        self.requesters = dict(requesters)
        self.chains = {k: str(v) for k, v in chains.items()}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"oracle-{self.port}.log"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "edge.cli", "carbon-market", "oracle-serve",
               "--key", str(self.key_path), "--port", str(self.port)]
        for chain, producer in self.requesters.items():
            cmd += ["--requester", f"{chain}={producer}"]
        for chain, path in self.chains.items():
            cmd += ["--chain", f"{chain}={path}"]
        return cmd

    def start(self, timeout_s: float = 60.0) -> OracleProcess:
        self.proc = start_http_service(self.command(), self.workdir, self.log, self.url,
                                       "oracle", timeout_s)
        return self

    def stop(self) -> None:
        stop(self.proc, timeout=10)
        self.proc = None

    def status(self) -> dict:
        return httpx.get(self.url + "/v1/status", timeout=5).json()
