"""A real hub for tests: `carbon-edge hub serve` in its own process on a free loopback port.

Fixtures:
- `hub_server`: one hub per test session (SQLite in a temp dir), shared; tests
  keep apart by using their own fresh edge keys.
- `hub_factory`: fresh hubs a test may stop and start again (same port, same
  database), e.g. to show a backlog surviving a hub outage.
- `hub_pg_url`: a fresh PostgreSQL database for this test (skips with the
  reason when none can be created); `hub_db`: a migrated Database on SQLite
  and on PostgreSQL (parametrized).
- `edge_on_hub`: a fresh edge key registered on `hub_server`.
Helpers: `EdgeChain` makes signed blocks; `signed_request` sends one signed call.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.chain.block import GENESIS_PREV, Block, make_block
from edge.chain.keys import PrivateKey, generate_key, public_id
from edge.sync.signing import sign_request
from simulator.hubproc import HubProcess
from simulator.procs import free_port

REPO = Path(__file__).resolve().parents[2]
PG_USERS = ("postgres", "root")
PG_HOST = os.environ.get("HUB_TEST_PG_HOST", "127.0.0.1:5432")


@dataclass
class EdgeChain:
    """Signed blocks of one edge, made in memory (what an edge's ChainStore would hold)."""

    key: PrivateKey = field(default_factory=generate_key)
    chain: str = "site-a"
    blocks: list[Block] = field(default_factory=list)
    ts: int = field(default_factory=lambda: int(time.time() * 1000) - 60_000)

    @property
    def edge_id(self) -> str:
        return public_id(self.key.public_key())

    def extend(self, n: int, txs: int = 3, prev: str | None = None) -> list[Block]:
        out = []
        for _ in range(n):
            height = len(self.blocks)
            head = self.blocks[-1].header.hash() if self.blocks else GENESIS_PREV
            self.ts += 1000
            block = make_block(
                chain=self.chain, height=height, prev=prev or head, ts=self.ts, key=self.key,
                txs=[{"kind": "settlement", "gw": f"gw{i}", "energy_wh": 100 * height + i}
                     for i in range(txs)],
            )
            prev = None
            self.blocks.append(block)
            out.append(block)
        return out

    def other_at(self, height: int, prev: str | None = None, key: PrivateKey | None = None,
                 salt: int = 1) -> Block:
        """A different block at `height` (same parent unless `prev` says otherwise)."""
        parent = self.blocks[height - 1].header.hash() if height else GENESIS_PREV
        return make_block(chain=self.chain, height=height, prev=prev or parent,
                          ts=self.blocks[height].header.ts, key=key or self.key,
                          txs=[{"kind": "settlement", "gw": "evil", "energy_wh": salt}])


def block_json(block: Block) -> dict[str, Any]:
    return {"header": json.loads(block.header.to_bytes()), "txs": block.tx_objects()}


def signed_request(url: str, key: PrivateKey, method: str, path: str, body: Any = None,
                   ts_ms: int | None = None, headers: dict[str, str] | None = None
                   ) -> httpx.Response:
    """One request signed per the sync contract (`ts_ms` lets a test go stale)."""
    content = b"" if body is None else json.dumps(body).encode()
    ts = int(time.time() * 1000) if ts_ms is None else ts_ms
    signed = sign_request(key, method, path, ts, content)
    signed.update(headers or {})
    if body is not None:
        signed["Content-Type"] = "application/json"
    return httpx.request(method, url + path, content=content, headers=signed, timeout=60)


def push(hub: HubProcess, key: PrivateKey, blocks: list[Block]) -> httpx.Response:
    edge_id = public_id(key.public_key())
    return signed_request(hub.url, key, "POST", f"/v1/edges/{edge_id}/blocks",
                          {"blocks": [block_json(b) for b in blocks]})


# -- PostgreSQL ------------------------------------------------------------------
def _pg_admin() -> tuple[str, Any] | None:
    try:
        import psycopg
    except ImportError:
        return None
    for user in PG_USERS:
        try:
            conn = psycopg.connect(f"postgresql://{user}@{PG_HOST}/test", autocommit=True,
                                   connect_timeout=3)
        except Exception:  # noqa: BLE001 - any failure means "try the next user"
            continue
        return user, conn
    return None


@pytest.fixture
def hub_pg_url():
    """A fresh PostgreSQL database per test: a hub's main chain binds its database to one
    hub key, so tests with their own keys do not share one."""
    admin = _pg_admin()
    if admin is None:
        pytest.skip(f"no PostgreSQL at {PG_HOST} (users {', '.join(PG_USERS)}, db test)")
    user, conn = admin
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    try:
        conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001
        conn.close()
        pytest.skip(f"PostgreSQL user {user} cannot create a database: {exc}")
    try:
        yield f"postgresql+psycopg://{user}@{PG_HOST}/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub_db(request, tmp_path):
    """A migrated hub database, once on SQLite and once on PostgreSQL."""
    from hub.service.db import Database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        url = request.getfixturevalue("hub_pg_url")
    db = Database(url)
    yield db
    db.close()


# -- live hubs ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def hub_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("hub")
    hub = HubProcess(f"sqlite:///{workdir / 'hub.db'}", workdir).start()
    yield hub
    hub.stop()


@pytest.fixture
def hub_factory(tmp_path):
    made: list[HubProcess] = []

    def make(db_url: str | None = None, **kw: Any) -> HubProcess:
        workdir = tmp_path / f"hub{len(made)}"
        workdir.mkdir()
        hub = HubProcess(db_url or f"sqlite:///{workdir / 'hub.db'}", workdir, **kw)
        made.append(hub)
        return hub

    yield make
    for hub in made:
        hub.stop()


@pytest.fixture
def edge_on_hub(hub_server) -> EdgeChain:
    chain = EdgeChain()
    hub_server.register(chain.key)
    return chain


# -- raw HTTP for body-limit tests -------------------------------------------------
def raw_post(port: int, path: str, headers: dict[str, str], total: int,
             declare_length: bool = False, chunk: int = 1 << 16) -> tuple[int, int]:
    """POST `total` filler bytes chunk by chunk over a plain socket; (status, bytes sent).

    Sends until the server answers (or closes), so the count shows how much of
    the body the server took before refusing. Chunked transfer unless
    `declare_length`, when a Content-Length of `total` is sent instead.
    """
    import select
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {total}" if declare_length else "Transfer-Encoding: chunked")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    filler = b" " * chunk
    sent, answer = 0, b""
    try:
        while True:
            readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 30)
            if readable:
                answer = sock.recv(65536)
                break
            if not writable:
                break
            piece = filler[:min(chunk, total - sent)]
            if declare_length:
                sock.sendall(piece)
            else:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                if sent + len(piece) >= total:
                    sock.sendall(b"0\r\n\r\n")
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        try:
            answer = sock.recv(65536)
        except OSError:
            answer = b""
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, sent


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class ServedApp:
    """An app object under uvicorn in a thread on a free loopback port: real HTTP for apps a
    test builds itself (e.g. `create_app(settings, clock=Clock(wall=SteppedWall(...)))`)."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
