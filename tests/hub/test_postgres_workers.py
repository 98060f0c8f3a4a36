"""Two hub processes sharing one PostgreSQL, fed the same batches at once (real HTTP)."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.kit.hub import EdgeChain, push

pytestmark = pytest.mark.postgres


def test_two_workers_on_one_postgres_store_each_block_once(hub_pg_url, hub_factory):
    a = hub_factory(hub_pg_url).start()
    b = hub_factory(hub_pg_url)
    b.key_path.write_bytes(a.key_path.read_bytes())  # one hub identity, two workers
    b.key_path.chmod(0o600)
    b.start()
    chain = EdgeChain()
    a.register(chain.key)
    chain.extend(12, txs=50)
    answers, lock = [], threading.Lock()

    def send(hub, lo, hi):
        r = push(hub, chain.key, chain.blocks[lo:hi])
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=send, args=(h, 0, 12)) for h in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert sum(r.json()["accepted"] for r in answers) == 12
    assert all(r.json()["head"]["height"] == 11 for r in answers)
    # both workers answer the same head, and an equivocation offered to either is refused
    evil = chain.other_at(5)
    assert push(b, chain.key, [evil]).status_code == 409
    assert push(a, chain.key, [evil]).status_code == 409
    alarms = httpx.get(a.url + "/v1/alarms", params={"edge": chain.edge_id}).json()["alarms"]
    assert [(x["kind"], x["height"]) for x in alarms] == [("equivocation", 5)]
    made = [a.make_main_block(), b.make_main_block()]
    assert sum(m["created"] for m in made) >= 1
    info = httpx.get(b.url + "/v1/hub").json()
    assert info["database"] == "postgresql" and info["hub_id"] == a.hub_id
