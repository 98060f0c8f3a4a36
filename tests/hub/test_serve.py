"""`hub serve` and the app it builds: identity, TLS, operator token, settings, the clock."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from edge.chain.keys import generate_key, public_id, save_private_key
from edge.clock import Clock, SteppedWall
from edge.sync.signing import sign_request
from hub.service import ingest, mainchain, registry
from tests.kit.broker import make_certs
from tests.kit.hub import REPO, EdgeChain, ServedApp, block_json, signed_request

YEAR_MS = 365 * 86_400_000


def hub(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "edge.cli", "hub", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


@pytest.fixture
def chain_db(tmp_path):
    """A database whose main chain (one block) is signed by the key in hub.pem."""
    from hub.service.db import Database

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    db = Database(url)
    key = generate_key()
    save_private_key(key, tmp_path / "hub.pem")
    chain = EdgeChain()
    now = chain.ts + 10_000
    registry.register_edge(db, "e1", chain.edge_id, now_ms=now)
    chain.extend(2)
    ingest.ingest_batch(db, chain.edge_id, [block_json(b) for b in chain.blocks], now_ms=now)
    assert mainchain.make_main_block(db, key, now) is not None
    yield url, key, chain, db
    db.close()


def test_a_missing_key_for_a_database_with_main_blocks_refuses_to_start(chain_db, tmp_path):
    url, _key, _chain, _db = chain_db
    r = hub("serve", "--db", url, "--hub-key", "gone.pem", "--port", "1", cwd=tmp_path)
    assert r.returncode == 2 and "missing" in r.stderr and "restore" in r.stderr, r.stderr
    assert not (tmp_path / "gone.pem").exists()  # no new identity was made
    save_private_key(generate_key(), tmp_path / "other.pem")
    r = hub("serve", "--db", url, "--hub-key", "other.pem", "--port", "1", cwd=tmp_path)
    assert r.returncode == 2 and "signed by" in r.stderr, r.stderr


def test_make_main_block_with_another_key_appends_nothing(chain_db, tmp_path):
    url, key, chain, db = chain_db
    chain.extend(1)
    ingest.ingest_batch(db, chain.edge_id, [block_json(chain.blocks[-1])],
                        now_ms=chain.ts + 10_000)
    save_private_key(generate_key(), tmp_path / "other.pem")
    r = hub("make-main-block", "--db", url, "--hub-key", "other.pem", cwd=tmp_path)
    assert r.returncode == 2 and f"signed by {public_id(key.public_key())}" in r.stderr
    assert mainchain.main_head(db).height == 0
    r = hub("make-main-block", "--db", url, "--hub-key", "hub.pem", "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["header"]["height"] == 1


def test_the_operator_token_never_comes_from_the_command_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    r = hub("serve", "--db", url, "--operator-token", "x" * 32, cwd=tmp_path)
    assert r.returncode == 2 and "unrecognized arguments: --operator-token" in r.stderr
    r = hub("serve", "--db", url, "--operator-token-file", "nope", "--port", "1", cwd=tmp_path)
    assert r.returncode == 2 and "operator token file nope" in r.stderr
    (tmp_path / "short").write_text("abc\n")
    r = hub("serve", "--db", url, "--operator-token-file", "short", "--port", "1", cwd=tmp_path)
    assert r.returncode == 2 and "at least 16 characters" in r.stderr
    r = hub("serve", "--db", url, "--port", "70000", cwd=tmp_path)
    assert r.returncode == 2 and "not a TCP port" in r.stderr


def test_settings_come_from_the_environment_and_the_token_from_it(tmp_path, monkeypatch):
    from hub.service.app import create_app
    from hub.service.settings import Settings

    token = "t" * 24
    monkeypatch.setenv("CARBON_HUB_OPERATOR_TOKEN", token)
    monkeypatch.setenv("CARBON_HUB_MAX_BLOCKS_PER_REQUEST", "2")
    monkeypatch.setenv("CARBON_HUB_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")
    environ = dict(os.environ)
    settings = Settings.load(hub_key_path=str(tmp_path / "hub.pem"), main_interval_s=0)
    assert settings.max_blocks_per_request == 2 and settings.token() == token
    app = create_app(settings)
    assert dict(os.environ) == environ  # read, never written back
    chain = EdgeChain()
    registry.register_edge(app.state.db, "e", chain.edge_id, now_ms=chain.ts)
    chain.extend(3)
    with ServedApp(app) as served:
        r = httpx.post(served.url + "/v1/main/blocks", headers={"Authorization": "Bearer nope"})
        assert (r.status_code, r.json()["detail"]["reason"]) == (401, "bad_operator_token")
        r = httpx.post(served.url + "/v1/main/blocks",
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["created"] is False
        r = signed_request(served.url, chain.key, "POST", f"/v1/edges/{chain.edge_id}/blocks",
                           {"blocks": [block_json(b) for b in chain.blocks]})
        assert r.status_code == 413
        assert (r.json()["detail"]["reason"], r.json()["detail"]["limit"]) == (
            "too_many_blocks", "max_blocks_per_request")
    app.state.db.close()


def test_the_hub_serves_https_with_the_given_certificate(hub_factory, tmp_path):
    certs = make_certs(tmp_path / "tls", [])
    trust = ssl.create_default_context(cafile=str(certs.ca))
    hub_ = hub_factory(extra_args=["--ssl-certfile", str(certs.server_cert),
                                   "--ssl-keyfile", str(certs.server_key)],
                       scheme="https", verify=trust).start()
    r = httpx.get(hub_.url + "/v1/hub", verify=trust)
    assert r.status_code == 200 and r.json()["hub_id"] == hub_.hub_id
    with pytest.raises(httpx.ConnectError):  # an unknown CA is not trusted
        httpx.get(hub_.url + "/v1/hub")
    with pytest.raises(httpx.HTTPError):  # and there is no plain HTTP on that port
        httpx.get(hub_.url.replace("https://", "http://") + "/v1/hub")
    chain = EdgeChain()
    hub_.register(chain.key)
    chain.extend(2)
    path = f"/v1/edges/{chain.edge_id}/blocks"
    body = json.dumps({"blocks": [block_json(b) for b in chain.blocks]}).encode()
    headers = {**sign_request(chain.key, "POST", path, chain.ts, body),
               "Content-Type": "application/json"}
    r = httpx.post(hub_.url + path, content=body, headers=headers, verify=trust)
    assert r.status_code == 200 and r.json()["accepted"] == 2
    r = hub("serve", "--ssl-certfile", str(certs.server_cert), cwd=tmp_path)
    assert r.returncode == 2 and "go together" in r.stderr


def test_time_in_the_hub_is_its_injected_clock(tmp_path):
    """A hub whose clock says 2020: requests and blocks are judged by that clock only."""
    from hub.service.app import create_app
    from hub.service.settings import Settings

    chain = EdgeChain()
    wall = SteppedWall(chain.ts - 6 * YEAR_MS)
    clock = Clock(wall=wall)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}",
                        hub_key_path=str(tmp_path / "hub.pem"), main_interval_s=0,
                        operator_token="o" * 20)
    app = create_app(settings, clock=clock)
    registry.register_edge(app.state.db, "e", chain.edge_id, now_ms=clock.wall_ms())
    chain.extend(1)
    head = f"/v1/edges/{chain.edge_id}/head"
    with ServedApp(app) as served:
        r = signed_request(served.url, chain.key, "GET", head)  # stamped with the wall clock
        assert (r.status_code, r.json()["detail"]["reason"]) == (401, "stale_request")
        r = signed_request(served.url, chain.key, "GET", head, ts_ms=clock.wall_ms())
        assert r.status_code == 200 and r.json()["height"] == -1
        path = f"/v1/edges/{chain.edge_id}/blocks"
        r = signed_request(served.url, chain.key, "POST", path,
                           {"blocks": [block_json(chain.blocks[0])]}, ts_ms=clock.wall_ms())
        assert r.status_code == 400 and r.json()["detail"]["problem"] == \
            "timestamp in the future"
        wall.advance(6 * YEAR_MS + 60_000)
        r = signed_request(served.url, chain.key, "POST", path,
                           {"blocks": [block_json(chain.blocks[0])]}, ts_ms=clock.wall_ms())
        assert r.status_code == 200, r.text
        made = httpx.post(served.url + "/v1/main/blocks",
                          headers={"Authorization": "Bearer " + "o" * 20}).json()
        assert made["block"]["header"]["ts"] == clock.wall_ms()
    from hub.service.models import EdgeBlock

    with app.state.db.session() as s:
        assert s.get(EdgeBlock, (chain.edge_id, 0)).received_ms == clock.wall_ms()
    app.state.db.close()


def test_several_workers_get_the_settings_without_the_environment(hub_factory):
    """uvicorn's workers build the app from the pickled settings: the token file still rules."""
    hub_ = hub_factory(extra_args=["--workers", "2"]).start()
    for _ in range(4):  # whichever worker answers knows the token and the hub key
        assert httpx.get(hub_.url + "/v1/hub").json()["hub_id"] == hub_.hub_id
        r = httpx.post(hub_.url + "/v1/main/blocks", headers={"Authorization": "Bearer wrong"})
        assert (r.status_code, r.json()["detail"]["reason"]) == (401, "bad_operator_token")
        assert hub_.operator("POST", "/v1/main/blocks").status_code == 200
    pid = hub_.proc.pid
    workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(workers) >= 2
    for worker in workers:  # nothing was put into the environment the workers started with
        assert b"CARBON_HUB_" not in Path(f"/proc/{worker}/environ").read_bytes()
