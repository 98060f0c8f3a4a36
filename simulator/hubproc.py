"""The central hub as a child process on loopback: what the simulator and the test kit run.

`carbon-edge hub serve` in its own process, exactly as an operator starts it,
on a free port of 127.0.0.1 with its own key, database and operator token
(given in a file: a token on the command line is visible in `ps`). `stop()`
and `start()` keep the port, the database and the key, so a hub outage (a
fault of the simulated day, or a test of a backlog) is a stop and a start.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from edge.clock import SYSTEM
from simulator.procs import free_port, start_http_service, stop


class HubProcess:
    """One hub process; `stop()` and `start()` keep the port, the database and the key."""

    def __init__(self, db_url: str, workdir: Path, port: int | None = None,
                 main_interval_s: float = 0, operator: bool = True,
                 extra_args: list[str] | None = None, scheme: str = "http",
                 verify: Any = True) -> None:
        from edge.chain.keys import generate_key, load_private_key, public_id, save_private_key

        self.db_url = db_url
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args or [])
        self.verify = verify
        self.key_path = workdir / "hub-key.pem"
        if not self.key_path.exists():
            save_private_key(generate_key(), self.key_path)
        self.key = load_private_key(self.key_path)
        self.hub_id = public_id(self.key.public_key())
        self.operator_token = secrets.token_hex(16) if operator else None
        self.main_interval_s = main_interval_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"hub-{self.port}.log"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "edge.cli", "hub", "serve", "--db", self.db_url,
               "--hub-key", str(self.key_path), "--port", str(self.port),
               "--main-interval", str(self.main_interval_s), "--log-level", "warning"]
        if self.operator_token:
            token_file = self.workdir / "operator-token"
            token_file.write_text(self.operator_token + "\n")
            token_file.chmod(0o600)
            cmd += ["--operator-token-file", str(token_file)]
        return cmd + self.extra_args

    def start(self, timeout_s: float = 120.0) -> HubProcess:
        """Start and wait until /healthz answers (a cold start on a loaded machine is slow)."""
        self.proc = start_http_service(self.command(), self.workdir, self.log, self.url,
                                       "hub", timeout_s, verify=self.verify)
        return self

    def stop(self) -> None:
        stop(self.proc, timeout=10)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def database(self):  # noqa: ANN201 - hub.service.db.Database, imported lazily
        from hub.service.db import Database

        return Database(self.db_url)

    def register(self, key: Any, site: str | None = "site-a") -> str:
        """Register an edge's key (what an operator does with `hub register`)."""
        from edge.chain.keys import public_id
        from hub.service.registry import register_edge

        db = self.database()
        try:
            edge_id = public_id(key.public_key())
            register_edge(db, f"edge-{edge_id[:12]}", edge_id, site, now_ms=SYSTEM.wall_ms())
        finally:
            db.close()
        return edge_id

    def operator(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, self.url + path, json=body, timeout=30,
                             headers={"Authorization": f"Bearer {self.operator_token}"},
                             verify=self.verify)

    def operator_raw(self, method: str, path: str, content: bytes) -> httpx.Response:
        return httpx.request(method, self.url + path, content=content, timeout=30,
                             headers={"Authorization": f"Bearer {self.operator_token}",
                                      "Content-Type": "application/json"},
                             verify=self.verify)

    def make_main_block(self) -> dict[str, Any]:
        resp = self.operator("POST", "/v1/main/blocks")
        if resp.status_code != 200:
            raise AssertionError(f"the hub refused a main block: {resp.status_code} {resp.text}")
        return resp.json()
