"""The hub API over real HTTP (uvicorn in its own process): auth, ingest rules, alarms, queries."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from edge.chain.keys import generate_key
from edge.clock import SYSTEM
from edge.protocol.auth import check_signature
from edge.sync.receipts import check_anchored_tx, check_receipt
from tests.kit.hub import REPO, EdgeChain, block_json, push, signed_request

now = SYSTEM.wall_ms


def reason(resp: httpx.Response) -> str:
    return resp.json()["detail"]["reason"]


def metric(hub, name: str) -> float:
    text = httpx.get(hub.url + "/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name))


def test_push_then_head_then_duplicates(hub_server, edge_on_hub):
    chain = edge_on_hub
    chain.extend(4, txs=5)
    r = push(hub_server, chain.key, chain.blocks[:3])
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 3, "duplicates": 0,
                        "head": {"height": 2, "hash": chain.blocks[2].header.hash()}}
    head = signed_request(hub_server.url, chain.key, "GET", f"/v1/edges/{chain.edge_id}/head")
    assert head.json() == {"height": 2, "hash": chain.blocks[2].header.hash()}
    r = push(hub_server, chain.key, chain.blocks)  # a retry plus one new block
    assert r.json()["accepted"] == 1 and r.json()["duplicates"] == 3
    got = signed_request(hub_server.url, chain.key, "GET",
                         f"/v1/edges/{chain.edge_id}/blocks/3").json()
    assert got["hash"] == chain.blocks[3].header.hash()
    assert got["txs"] == chain.blocks[3].tx_objects()
    assert hub_server.operator("GET", f"/v1/edges/{chain.edge_id}/blocks/3").json() == got


def test_block_reads_need_the_edge_or_the_operator(hub_server, edge_on_hub):
    """A competitor must not read an edge's blocks (sealed bids' commitments, results):
    anonymous, another edge's signature and a wrong operator token are refused."""
    chain = edge_on_hub
    chain.extend(1, txs=2)
    assert push(hub_server, chain.key, chain.blocks).status_code == 200
    other = EdgeChain()
    hub_server.register(other.key)
    for path in (f"/v1/edges/{chain.edge_id}/blocks/0",
                 f"/v1/edges/{chain.edge_id}/blocks/0/txs/1/proof"):
        r = httpx.get(hub_server.url + path)
        assert r.status_code == 401, r.text
        r = signed_request(hub_server.url, other.key, "GET", path)
        assert (r.status_code, reason(r)) == (403, "wrong_edge")
        r = httpx.get(hub_server.url + path, headers={"Authorization": "Bearer nope"})
        assert (r.status_code, reason(r)) == (401, "bad_operator_token")
    r = signed_request(hub_server.url, chain.key, "GET", f"/v1/edges/{chain.edge_id}/blocks/0")
    assert r.status_code == 200 and r.json()["hash"] == chain.blocks[0].header.hash()


def test_registry_refusals(hub_server, edge_on_hub):
    stranger = EdgeChain()
    stranger.extend(1)
    r = push(hub_server, stranger.key, stranger.blocks)
    assert (r.status_code, reason(r)) == (401, "unknown_edge")

    chain = edge_on_hub
    chain.extend(1)
    from hub.service.registry import revoke_edge

    db = hub_server.database()
    revoke_edge(db, chain.edge_id, now_ms=now())
    db.close()
    r = push(hub_server, chain.key, chain.blocks)
    assert (r.status_code, reason(r)) == (403, "revoked")


def test_signature_window_and_path_refusals(hub_server, edge_on_hub):
    chain = edge_on_hub
    path = f"/v1/edges/{chain.edge_id}/head"
    url = hub_server.url
    r = httpx.get(url + path)
    assert (r.status_code, reason(r)) == (401, "missing_auth")
    r = signed_request(url, chain.key, "GET", path, ts_ms=int(time.time() * 1000) - 301_000)
    assert (r.status_code, reason(r)) == (401, "stale_request")
    r = signed_request(url, chain.key, "GET", path, ts_ms=int(time.time() * 1000) + 301_000)
    assert (r.status_code, reason(r)) == (401, "stale_request")
    # forged: claims this edge's id but is signed by another key
    r = signed_request(url, generate_key(), "GET", path, headers={"X-Edge-Id": chain.edge_id})
    assert (r.status_code, reason(r)) == (401, "bad_signature")
    # signed for another path than the one requested (signature covers the path)
    headers = signed_request.__globals__["sign_request"](
        chain.key, "GET", path + "?x=1", int(time.time() * 1000))
    r = httpx.get(url + path, headers=headers)
    assert (r.status_code, reason(r)) == (401, "bad_signature")
    # a registered edge acting on another edge's path
    other = EdgeChain()
    hub_server.register(other.key)
    r = signed_request(url, chain.key, "GET", f"/v1/edges/{other.edge_id}/head")
    assert (r.status_code, reason(r)) == (403, "wrong_edge")
    assert metric(hub_server, 'hub_refused_total{reason="stale_request"}') >= 2


def test_replayed_request_inside_the_window_is_an_idempotent_duplicate(hub_server, edge_on_hub):
    chain = edge_on_hub
    chain.extend(2)
    body = json.dumps({"blocks": [block_json(b) for b in chain.blocks]}).encode()
    path = f"/v1/edges/{chain.edge_id}/blocks"
    from edge.sync.signing import sign_request

    headers = {**sign_request(chain.key, "POST", path, int(time.time() * 1000), body),
               "Content-Type": "application/json"}
    first = httpx.post(hub_server.url + path, content=body, headers=headers)
    again = httpx.post(hub_server.url + path, content=body, headers=headers)
    assert first.json()["accepted"] == 2
    assert again.status_code == 200 and again.json()["accepted"] == 0
    assert again.json()["duplicates"] == 2
    # the same signed request replayed after the window is refused
    old = {**sign_request(chain.key, "POST", path, int(time.time() * 1000) - 400_000, body),
           "Content-Type": "application/json"}
    r = httpx.post(hub_server.url + path, content=body, headers=old)
    assert (r.status_code, reason(r)) == (401, "stale_request")


def test_forged_wrong_producer_and_reordered_blocks(hub_server, edge_on_hub):
    chain = edge_on_hub
    chain.extend(4)
    assert push(hub_server, chain.key, chain.blocks[:1]).status_code == 200
    forged = block_json(chain.blocks[1])
    forged["header"]["root"] = "00" * 32
    path = f"/v1/edges/{chain.edge_id}/blocks"
    r = signed_request(hub_server.url, chain.key, "POST", path, {"blocks": [forged]})
    assert r.status_code == 400
    assert r.json()["detail"]["reason"] == "bad_block" and r.json()["detail"]["height"] == 1
    # a block validly signed by another key, pushed by this edge
    thief = EdgeChain(blocks=list(chain.blocks[:1]), ts=chain.ts)
    r = push(hub_server, chain.key, thief.extend(1))
    assert r.status_code == 400 and "producer" in r.json()["detail"]["problem"]
    # reordered: a gap above the head
    r = push(hub_server, chain.key, [chain.blocks[2], chain.blocks[3]])
    assert r.status_code == 400 and "gap" in r.json()["detail"]["problem"]
    r = push(hub_server, chain.key, [chain.blocks[1], chain.blocks[3]])
    assert r.status_code == 400 and r.json()["detail"]["accepted"] == 1
    assert push(hub_server, chain.key, chain.blocks).json()["head"]["height"] == 3


def test_equivocation_and_fork_answer_409_with_an_alarm(hub_server, edge_on_hub):
    chain = edge_on_hub
    chain.extend(3)
    push(hub_server, chain.key, chain.blocks)
    before = metric(hub_server, 'hub_alarms_total{kind="equivocation"}')
    r = push(hub_server, chain.key, [chain.other_at(1)])
    assert r.status_code == 409
    assert r.json()["detail"]["reason"] == "equivocation" and r.json()["detail"]["height"] == 1
    r = push(hub_server, chain.key, [chain.other_at(2, prev="ee" * 32)])
    assert (r.status_code, reason(r)) == (409, "fork")
    found = httpx.get(hub_server.url + "/v1/alarms", params={"edge": chain.edge_id}).json()
    assert [(a["kind"], a["height"]) for a in found["alarms"]] == [("equivocation", 1),
                                                                    ("fork", 2)]
    assert metric(hub_server, 'hub_alarms_total{kind="equivocation"}') == before + 1
    assert "equivocation" in hub_server.log.read_text()  # and the log shows it


def test_schema_errors_are_422(hub_server, edge_on_hub):
    chain = edge_on_hub
    path = f"/v1/edges/{chain.edge_id}/blocks"
    for body in ({}, {"blocks": []}, {"blocks": [{"header": {"height": "1"}, "txs": []}]}):
        r = signed_request(hub_server.url, chain.key, "POST", path, body)
        assert r.status_code == 422, (body, r.text)


def test_receipts_and_tx_proofs_check_offline(hub_server, edge_on_hub, tmp_path):
    import subprocess
    import sys

    chain = edge_on_hub
    chain.extend(3, txs=6)
    push(hub_server, chain.key, chain.blocks)
    made = hub_server.make_main_block()
    assert made["created"] is True
    main_height = made["block"]["header"]["height"]
    r = signed_request(hub_server.url, chain.key, "GET",
                       f"/v1/edges/{chain.edge_id}/receipts?after={main_height - 1}")
    [receipt] = r.json()["receipts"]
    assert receipt["tx"] == {"edge": chain.edge_id, "height": 2,
                             "hash": chain.blocks[2].header.hash()}
    assert check_receipt(receipt, hub_server.hub_id, chain.edge_id) == []
    head = httpx.get(hub_server.url + "/v1/main/head").json()
    assert head["header"]["height"] >= main_height
    assert httpx.get(f"{hub_server.url}/v1/main/blocks/{main_height}").json()["hash"] == \
        made["block"]["hash"]
    proof = signed_request(hub_server.url, chain.key, "GET",
                           f"/v1/edges/{chain.edge_id}/blocks/0/txs/4/proof").json()
    assert check_anchored_tx(proof, hub_server.hub_id, chain.edge_id) == []

    def check(doc) -> subprocess.CompletedProcess:
        f = tmp_path / "r.json"
        f.write_text(json.dumps(doc))
        return subprocess.run([sys.executable, "-m", "edge.cli", "hub", "check-receipt",
                               "--file", str(f), "--hub", hub_server.hub_id, "--json"],
                              capture_output=True, text=True)

    assert check(receipt).returncode == 0
    assert check(proof).returncode == 0
    tampered = json.loads(json.dumps(receipt))
    tampered["tx"]["hash"] = "00" * 32
    out = check(tampered)
    assert out.returncode == 1 and "inclusion proof" in out.stdout
    resigned = json.loads(json.dumps(receipt))
    resigned["header"]["ts"] += 1
    out = check(resigned)
    assert out.returncode == 1 and "signature does not verify" in out.stdout
    lied = json.loads(json.dumps(proof))
    lied["tx"]["energy_wh"] += 1
    assert check(lied).returncode == 1


def test_not_found_answers(hub_server, edge_on_hub):
    url = hub_server.url
    r = signed_request(url, edge_on_hub.key, "GET", f"/v1/edges/{edge_on_hub.edge_id}/blocks/99")
    assert (r.status_code, reason(r)) == (404, "no_block")
    r = httpx.get(f"{url}/v1/main/blocks/999999")
    assert (r.status_code, reason(r)) == (404, "no_main_block")


def test_prices_publish_and_poll(hub_server):
    site = f"s{time.time_ns() % 10**9}"
    body = {"site": site, "valid_from": 3600, "valid_to": 7200, "p_low": 20, "p_high": 40,
            "intensity_g_kwh": 420, "adders": {"coal-A": 31250}}
    r = httpx.post(hub_server.url + "/v1/prices", json=body)
    assert (r.status_code, reason(r)) == (401, "bad_operator_token")
    r = hub_server.operator("POST", "/v1/prices", body)
    assert r.status_code == 200, r.text
    game = json.loads((REPO / "docs/examples/owen/market.json").read_text())
    r = hub_server.operator("POST", "/v1/prices/allocate",
                            {"site": site, "valid_from": 7200, "valid_to": 10800,
                             "intensity_g_kwh": 400, "game": game, "p_low": 20, "p_high": 41})
    assert r.status_code == 200, r.text
    allocated = {e["id"]: e["adder"] for e in r.json()["allocation"]["entities"]}
    r = hub_server.operator("POST", "/v1/prices/allocate",
                            {"site": site, "valid_from": 7200, "valid_to": 10800,
                             "intensity_g_kwh": 400, "game": {"kind": "market"}})
    assert (r.status_code, reason(r)) == (422, "invalid_request")
    signals = httpx.get(hub_server.url + "/v1/prices", params={"site": site}).json()["signals"]
    assert [s["adders"] for s in signals] == [{"coal-A": 31250}, allocated]
    assert (signals[1]["p_low"], signals[1]["p_high"]) == (20, 41)
    for s in signals:
        check_signature(s, signer=hub_server.hub_id)
    later = httpx.get(hub_server.url + "/v1/prices",
                      params={"site": site, "after": signals[0]["ts"]}).json()["signals"]
    assert later == signals[1:]


def test_operator_api_is_off_without_a_token_and_a_fresh_hub_has_no_main_block(hub_factory):
    hub = hub_factory(operator=False).start()
    r = httpx.post(f"{hub.url}/v1/main/blocks", headers={"Authorization": "Bearer x"})
    assert (r.status_code, reason(r)) == (403, "operator_api_disabled")
    r = httpx.get(f"{hub.url}/v1/main/head")
    assert (r.status_code, reason(r)) == (404, "no_main_block")
    info = httpx.get(f"{hub.url}/v1/hub").json()
    assert info == {"hub_id": hub.hub_id, "main_height": -1, "database": "sqlite"}


@pytest.mark.parametrize("interval", [0.5])
def test_scheduled_main_blocks(hub_factory, interval):
    hub = hub_factory(main_interval_s=interval).start()
    chain = EdgeChain()
    hub.register(chain.key)
    chain.extend(2)
    assert push(hub, chain.key, chain.blocks).status_code == 200
    deadline = time.monotonic() + 15
    receipts = []
    while time.monotonic() < deadline and not receipts:
        time.sleep(0.2)
        receipts = signed_request(hub.url, chain.key, "GET",
                                  f"/v1/edges/{chain.edge_id}/receipts").json()["receipts"]
    assert receipts and receipts[0]["tx"]["height"] == 1
    assert check_receipt(receipts[0], hub.hub_id, chain.edge_id,
                         chain.blocks[1].header.hash()) == []


def test_allocating_and_publishing_prices_is_one_operator_call(hub_server):
    """POST /v1/prices/allocate: the Owen ladder of POST /allocation/prices, signed, stored."""
    paths = httpx.get(hub_server.url + "/openapi.json").json()["paths"]
    assert "/carbon/trace" in paths and "/allocation/prices" in paths
    assert "/v1/prices/from-allocation" not in paths  # no round trip through a second call
    game = json.loads((REPO / "docs/examples/owen/market.json").read_text())
    r = httpx.post(hub_server.url + "/allocation/prices", json={"game": game}, timeout=120)
    assert r.status_code == 200, r.text
    computed = r.json()
    site = f"s{time.time_ns() % 10**9}"
    r = hub_server.operator("POST", "/v1/prices/allocate", {
        "site": site, "valid_from": 3600, "valid_to": 7200, "intensity_g_kwh": 500,
        "game": game})
    assert r.status_code == 200, r.text
    assert r.json()["allocation"]["entities"] == computed["entities"]
    [published] = httpx.get(hub_server.url + "/v1/prices", params={"site": site}).json()["signals"]
    assert published == r.json()["signal"]
    check_signature(published, signer=hub_server.hub_id)
    assert published["adders"] == {e["id"]: e["adder"] for e in computed["entities"]}
    assert (published["p_low"], published["p_high"]) == (20, 40)
    assert (published["type"], published["site"], published["intensity_g_kwh"]) == (
        "price", site, 500)
    r = httpx.post(hub_server.url + "/v1/prices/allocate", json={
        "site": site, "valid_from": 3600, "valid_to": 7200, "intensity_g_kwh": 500,
        "game": game})
    assert (r.status_code, reason(r)) == (401, "bad_operator_token")
