"""An operator registers an edge over HTTP (POST /v1/edges/{E}/registration) on a live hub."""

from __future__ import annotations

import httpx

from edge.chain.keys import generate_key, public_id
from tests.kit.hub import EdgeChain, push


def test_the_operator_registers_a_key_and_the_edge_may_then_push(hub_server):
    chain = EdgeChain()
    path = f"/v1/edges/{chain.edge_id}/registration"
    assert push(hub_server, chain.key, chain.extend(1)).status_code == 401  # unknown edge
    r = hub_server.operator("POST", path, {"name": f"e-{chain.edge_id[:8]}", "site": "site-a"})
    assert r.status_code == 200, r.text
    assert (r.json()["edge_id"], r.json()["site"], r.json()["status"]) == (
        chain.edge_id, "site-a", "active")
    assert push(hub_server, chain.key, chain.blocks).json()["accepted"] == 1
    again = hub_server.operator("POST", path, {"name": "other-name", "site": "site-a"})
    assert (again.status_code, again.json()["detail"]["reason"]) == (400, "exists")


def test_registration_needs_the_operator_token_and_a_valid_body(hub_server):
    edge_id = public_id(generate_key().public_key())
    path = f"/v1/edges/{edge_id}/registration"
    r = httpx.post(hub_server.url + path, json={"name": "x"}, timeout=30,
                   headers={"Authorization": "Bearer wrong"})
    assert (r.status_code, r.json()["detail"]["reason"]) == (401, "bad_operator_token")
    r = hub_server.operator("POST", path, {"name": "bad name!"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "name"
    r = hub_server.operator("POST", path, {"name": "ok", "extra": 1})
    assert r.status_code == 422
    # nothing was registered by the refusals: the key is still free
    assert hub_server.operator("POST", path, {"name": f"e-{edge_id[:8]}"}).status_code == 200
