"""The edge's sync client against a real hub process over real HTTP."""

from __future__ import annotations

import json
import threading
import time

import pytest

from edge.chain.block import make_block
from edge.chain.store import ChainStore
from edge.sync import HubRefused, HubUnavailable, SyncClient
from edge.sync.client import HubMisbehaved, SyncState
from tests.kit.hub import EdgeChain


def fill(store: ChainStore, chain: EdgeChain, n: int, txs: int = 3) -> None:
    for block in chain.extend(n, txs=txs):
        store.append(block)


@pytest.fixture
def edge(tmp_path):
    chain = EdgeChain()
    store = ChainStore(tmp_path / "chain.db")
    yield chain, store
    store.close()


def client(hub, chain, store, tmp_path, **kw) -> SyncClient:
    return SyncClient(hub.url, chain.key, chain.edge_id, store, tmp_path / "sync.json",
                      hub_id=hub.hub_id, site="site-a", **kw)


def test_backlog_survives_a_hub_outage_and_is_pushed_in_order(hub_factory, edge, tmp_path):
    chain, store = edge
    hub = hub_factory().start()
    hub.register(chain.key)
    fill(store, chain, 3)
    with client(hub, chain, store, tmp_path, batch_blocks=4) as c:
        assert c.push_pending().pushed == 3
        hub.stop()
        fill(store, chain, 10)  # the hub is away: the chain store is the backlog
        with pytest.raises(HubUnavailable):
            c.push_pending()
        assert store.height() == 12 and c.state.acked_height == 2
        hub.start()
        result = c.push_pending()
    assert (result.pushed, result.duplicates, result.head_height) == (10, 0, 12)
    assert result.head_hash == store.head_hash()
    db = hub.database()
    from sqlalchemy import select

    from hub.service.models import EdgeBlock

    with db.session() as s:
        rows = s.execute(select(EdgeBlock.height, EdgeBlock.hash, EdgeBlock.received_ms)
                         .where(EdgeBlock.edge_id == chain.edge_id)
                         .order_by(EdgeBlock.height)).all()
    db.close()
    assert [r.height for r in rows] == list(range(13))
    assert [r.hash for r in rows] == [store.get(h).header.hash() for h in range(13)]
    received = [r.received_ms for r in rows]
    assert received == sorted(received)  # pushed oldest first


def test_restart_resumes_from_the_hubs_acknowledged_height(hub_server, edge, tmp_path):
    chain, store = edge
    hub_server.register(chain.key)
    fill(store, chain, 4)
    with client(hub_server, chain, store, tmp_path) as c:
        c.push_pending()
    saved = SyncState.load(tmp_path / "sync.json")
    assert (saved.acked_height, saved.acked_hash) == (3, store.head_hash())
    fill(store, chain, 3)
    (tmp_path / "sync.json").unlink()  # even with its state lost, the client asks the hub
    with client(hub_server, chain, store, tmp_path) as c:
        result = c.push_pending()
    assert (result.pushed, result.duplicates, result.head_height) == (3, 0, 6)


def test_receipts_and_prices_are_verified_and_remembered(hub_server, edge, tmp_path):
    chain, store = edge
    hub_server.register(chain.key)
    fill(store, chain, 2)
    site = f"s{time.time_ns() % 10**9}"
    with SyncClient(hub_server.url, chain.key, None, store, tmp_path / "sync.json",
                    hub_id=hub_server.hub_id, site=site) as c:
        c.push_pending()
        hub_server.make_main_block()
        got = c.pull_receipts()
        assert [r["tx"]["height"] for r in got] == [1]
        assert c.pull_receipts() == []  # remembered
        body = {"site": site, "valid_from": 0, "valid_to": 900, "p_low": 20, "p_high": 40,
                "intensity_g_kwh": 300, "adders": {"gw1": 5}}
        assert hub_server.operator("POST", "/v1/prices", body).status_code == 200
        signals = c.pull_prices()
        assert [s["adders"] for s in signals] == [{"gw1": 5}]
        assert c.pull_prices() == []
    state = json.loads((tmp_path / "sync.json").read_text())
    assert state["receipts_after"] == got[0]["header"]["height"]
    assert state["prices_after"] == signals[0]["ts"]


def test_a_wrong_pinned_hub_key_refuses_receipts_and_prices(hub_server, edge, tmp_path):
    chain, store = edge
    hub_server.register(chain.key)
    fill(store, chain, 1)
    site = f"s{time.time_ns() % 10**9}"
    hub_server.operator("POST", "/v1/prices", {
        "site": site, "valid_from": 0, "valid_to": 900, "p_low": 20, "p_high": 40,
        "intensity_g_kwh": 300})
    impostor = EdgeChain().edge_id
    with SyncClient(hub_server.url, chain.key, None, store, tmp_path / "s.json",
                    hub_id=impostor, site=site) as c:
        c.push_pending()
        hub_server.make_main_block()
        with pytest.raises(HubMisbehaved, match="pinned hub key"):
            c.pull_receipts()
        with pytest.raises(HubMisbehaved, match="signature"):
            c.pull_prices()
        assert c.state.receipts_after == -1 and c.state.prices_after == -1


def test_refusals_are_typed(hub_server, edge, tmp_path):
    chain, store = edge
    fill(store, chain, 2)
    with client(hub_server, chain, store, tmp_path) as c:
        with pytest.raises(HubRefused) as exc:
            c.push_pending()
        assert exc.value.reason == "unknown_edge" and exc.value.status == 401
    hub_server.register(chain.key)
    # a different local history than the hub's: the client refuses to push over it
    with client(hub_server, chain, store, tmp_path) as c:
        c.push_pending()
    other = ChainStore(tmp_path / "other.db")
    twin = EdgeChain(key=chain.key)
    twin.ts += 7
    for block in twin.extend(3):
        other.append(block)
    with SyncClient(hub_server.url, chain.key, None, other, tmp_path / "o.json") as c:
        with pytest.raises(HubRefused) as exc:
            c.push_pending()
        assert exc.value.reason == "diverged"
    other.close()
    with pytest.raises(ValueError):
        SyncClient(hub_server.url, chain.key, EdgeChain().edge_id, store, tmp_path / "x.json")


def test_a_cloned_edge_with_another_history_is_refused_before_pushing(hub_server, edge, tmp_path):
    chain, store = edge
    hub_server.register(chain.key)
    fill(store, chain, 2)
    with client(hub_server, chain, store, tmp_path) as c:
        c.push_pending()
    # the same key signs a different block 1 into another store (a cloned edge)
    clone = ChainStore(tmp_path / "clone.db")
    clone.append(store.get(0))
    clone.append(make_block(chain=chain.chain, height=1, prev=store.get(0).header.hash(),
                            txs=[{"kind": "clone"}], ts=chain.ts, key=chain.key))
    clone.append(make_block(chain=chain.chain, height=2, prev=clone.head_hash(),
                            txs=[{"kind": "clone"}], ts=chain.ts, key=chain.key))
    with SyncClient(hub_server.url, chain.key, None, clone, tmp_path / "c.json") as c:
        with pytest.raises(HubRefused) as exc:
            c.push_pending()  # the hub's head (block 2) is not the clone's block 2
        assert exc.value.reason == "diverged"
    clone.close()


def test_run_loop_pushes_and_backs_off(hub_factory, edge, tmp_path):
    chain, store = edge
    hub = hub_factory()
    hub.register(chain.key)
    fill(store, chain, 3)
    rounds, stop = [], threading.Event()
    with client(hub, chain, store, tmp_path) as c:
        worker = threading.Thread(target=c.run, args=(stop, 0.1, rounds.append, 0.5))
        worker.start()
        time.sleep(0.5)  # hub not started yet: the loop backs off, nothing lost
        assert rounds == []
        hub.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not rounds:
            time.sleep(0.1)
        stop.set()
        worker.join(10)
    assert rounds and rounds[0]["push"].head_height == 2
    assert not worker.is_alive()


def test_unreachable_hub_is_unavailable_not_a_crash(edge, tmp_path):
    chain, store = edge
    fill(store, chain, 1)
    from tests.kit.hub import free_port

    with SyncClient(f"http://127.0.0.1:{free_port()}", chain.key, None, store,
                    tmp_path / "s.json", timeout_s=1) as c:
        with pytest.raises(HubUnavailable):
            c.push_pending()


def test_one_back_off_rule():
    from edge.sync.client import retry_delay

    # doubling per failure in a row, capped (numbers by hand)
    assert [retry_delay(n, 10.0, 300.0) for n in range(0, 7)] == [10, 20, 40, 80, 160, 300, 300]
    assert retry_delay(10_000, 0.5, 60.0) == 60.0  # no overflow on a long outage


def test_run_reports_failures_and_their_back_off(edge, tmp_path):
    chain, store = edge
    from tests.kit.hub import free_port

    statuses, stop = [], threading.Event()

    def on_status(s):
        statuses.append(s)
        if len(statuses) == 3:
            stop.set()

    with SyncClient(f"http://127.0.0.1:{free_port()}", chain.key, None, store,
                    tmp_path / "s.json", timeout_s=1) as c:
        c.run(stop, 0.05, max_backoff_s=0.15, on_status=on_status)
    assert [s["state"] for s in statuses] == ["failing"] * 3
    assert [s["failures"] for s in statuses] == [1, 2, 3]
    assert [s["retry_s"] for s in statuses] == [0.1, 0.15, 0.15]
    assert "HubUnavailable" in statuses[0]["error"]


def test_closing_the_client_ends_its_loop(edge, tmp_path):
    chain, store = edge
    from tests.kit.hub import free_port

    stop = threading.Event()  # never set: close() alone must end the loop
    c = SyncClient(f"http://127.0.0.1:{free_port()}", chain.key, None, store,
                   tmp_path / "s.json", timeout_s=1)
    worker = threading.Thread(target=c.run, args=(stop, 0.05), kwargs={"max_backoff_s": 0.1})
    worker.start()
    time.sleep(0.2)
    c.close()
    worker.join(5)
    assert not worker.is_alive()
