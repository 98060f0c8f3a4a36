"""Attacks on the hub's HTTP surface, each refused (real uvicorn, real HTTP).

Bodies: a request is authenticated from its headers before any of its body is
read, every route has a body limit that is enforced while the bytes arrive,
and JSON is parsed strictly (no NaN/Infinity, no duplicate keys), so none of
these costs the hub more than the limit or answers 500.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict

import httpx
import pytest

from edge.chain.block import BlockHeader
from edge.chain.keys import sign
from edge.sync.signing import sign_request
from hub.service.settings import Settings
from tests.kit.hub import EdgeChain, block_json, push, raw_post, rss_bytes, signed_request

MiB = 1 << 20
CAP = Settings.model_fields["max_ingest_body_bytes"].default  # the documented default, 16 MiB


def metric(hub, name: str) -> float:
    text = httpx.get(hub.url + "/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name))


def test_cap_is_the_documented_16_mib():
    assert CAP == 16 * MiB


@pytest.mark.parametrize("declare_length", [True, False])
def test_an_unauthenticated_body_is_refused_from_the_headers(hub_server, edge_on_hub,
                                                             declare_length):
    path = f"/v1/edges/{edge_on_hub.edge_id}/blocks"
    status, sent = raw_post(hub_server.port, path, {}, 200 * MiB, declare_length)
    assert status == 401
    assert sent < 4 * MiB, f"the hub took {sent} bytes of an unauthenticated body"
    # a claimed but unknown edge: the registry says no before the body is read
    stranger = EdgeChain()
    headers = {"X-Edge-Id": stranger.edge_id, "X-Edge-Ts": str(int(time.time() * 1000)),
               "X-Edge-Sig": "00" * 64}
    status, sent = raw_post(hub_server.port, f"/v1/edges/{stranger.edge_id}/blocks", headers,
                            200 * MiB, declare_length)
    assert status == 401 and sent < 4 * MiB


def test_a_body_over_the_cap_is_413_as_it_arrives_and_the_hub_stays_responsive(
        hub_server, edge_on_hub):
    path = f"/v1/edges/{edge_on_hub.edge_id}/blocks"
    headers = {"X-Edge-Id": edge_on_hub.edge_id, "X-Edge-Ts": str(int(time.time() * 1000)),
               "X-Edge-Sig": "00" * 64}  # a registered edge's headers; the body never verifies
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            t = time.monotonic()
            r = httpx.get(hub_server.url + "/healthz", timeout=10)
            latencies.append(time.monotonic() - t if r.status_code == 200 else 99.0)
            time.sleep(0.02)

    before = rss_bytes(hub_server.proc.pid)
    refused = metric(hub_server, 'hub_refused_total{reason="body_too_large"}')
    prober = threading.Thread(target=probe)
    prober.start()
    try:
        status, sent = raw_post(hub_server.port, path, headers, 256 * MiB)  # chunked
        assert status == 413
        assert CAP < sent < CAP + 8 * MiB, f"{sent} bytes sent before the 413"
        status, sent = raw_post(hub_server.port, path, headers, 256 * MiB, declare_length=True)
        assert status == 413 and sent < 4 * MiB
    finally:
        stop.set()
        prober.join()
    grown = rss_bytes(hub_server.proc.pid) - before
    assert grown < 96 * MiB, f"hub memory grew by {grown // MiB} MiB"
    assert latencies and max(latencies) < 2.0, latencies
    assert metric(hub_server, 'hub_refused_total{reason="body_too_large"}') == refused + 2
    r = httpx.get(hub_server.url + "/healthz")
    assert r.status_code == 200


BAD_JSON = [
    b'{"blocks": NaN}',
    b'{"blocks": [Infinity]}',
    b'{"blocks": [-Infinity]}',
    b'{"blocks": [1e400]}',
    b'{"blocks": [], "blocks": []}',
    b'{"blocks": [{"header": {}, "txs": [{"a": 1, "a": 2}]}]}',
    b'\xff\xfe{"blocks": []}',
    b"[" * 100_000,
]


@pytest.mark.parametrize("body", BAD_JSON, ids=range(len(BAD_JSON)))
def test_non_strict_json_is_400_on_signed_and_public_routes(hub_server, edge_on_hub, body):
    path = f"/v1/edges/{edge_on_hub.edge_id}/blocks"
    headers = {**sign_request(edge_on_hub.key, "POST", path, int(time.time() * 1000), body),
               "Content-Type": "application/json"}
    answers = [httpx.post(hub_server.url + path, content=body, headers=headers)]
    for public in ("/allocation/owen", "/allocation/prices", "/carbon/trace"):
        answers.append(httpx.post(hub_server.url + public, content=body,
                                  headers={"Content-Type": "application/json"}))
    answers.append(hub_server.operator_raw("POST", "/v1/prices", body))
    for r in answers:
        assert r.status_code == 400, (r.request.url, r.text)
        assert r.json()["detail"]["reason"] == "bad_json", r.text
        assert r.json()["detail"]["field"] == "body"


def test_duplicate_keys_in_a_validly_signed_block_are_refused(hub_server, edge_on_hub):
    """Two parsers would read {"a":1,"a":2} differently; the hub reads neither."""
    edge_on_hub.extend(1)
    doc = json.dumps({"blocks": [block_json(b) for b in edge_on_hub.blocks]})
    body = doc.replace('"txs": [{', '"txs": [{"gw": "x", ', 1).encode()
    assert body.count(b'"gw"') > doc.count('"gw"')
    path = f"/v1/edges/{edge_on_hub.edge_id}/blocks"
    headers = {**sign_request(edge_on_hub.key, "POST", path, int(time.time() * 1000), body),
               "Content-Type": "application/json"}
    r = httpx.post(hub_server.url + path, content=body, headers=headers)
    assert (r.status_code, r.json()["detail"]["reason"]) == (400, "bad_json")
    assert "duplicate key 'gw'" in r.json()["detail"]["message"]
    assert push(hub_server, edge_on_hub.key, edge_on_hub.blocks).json()["accepted"] == 1


def test_a_header_version_the_hub_does_not_read_is_refused(hub_server, edge_on_hub):
    from hub.service.errors import BadBlock
    from hub.service.ingest import decode_block

    (block,) = edge_on_hub.extend(1)
    unsigned = BlockHeader(**{**asdict(block.header), "version": 2, "sig": ""})
    header = BlockHeader(**{**asdict(unsigned),
                            "sig": sign(edge_on_hub.key, unsigned.signing_bytes()).hex()})
    assert header.signature_ok()  # validly signed by the edge: only the version is wrong
    doc = {"header": json.loads(header.to_bytes()), "txs": block.tx_objects()}
    r = signed_request(hub_server.url, edge_on_hub.key, "POST",
                       f"/v1/edges/{edge_on_hub.edge_id}/blocks", {"blocks": [doc]})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "blocks.0.header.version"
    with pytest.raises(BadBlock, match="version 2 is not supported"):
        decode_block(doc, 0)


@pytest.mark.parametrize("case", ["v1_404", "v1_405", "v1_422", "v1_401", "carbon_422",
                                  "allocation_422", "allocation_413", "operator_401"])
def test_every_refusal_has_the_one_shape(hub_server, case):
    url = hub_server.url
    r = {
        "v1_404": lambda: httpx.get(url + "/v1/nothing"),
        "v1_405": lambda: httpx.delete(url + "/v1/alarms"),
        "v1_422": lambda: httpx.get(url + "/v1/alarms", params={"limit": 0}),
        "v1_401": lambda: httpx.get(url + "/v1/edges/" + "a" * 64 + "/head"),
        "carbon_422": lambda: httpx.post(url + "/carbon/trace", json={"case": "nope"}),
        "allocation_422": lambda: httpx.post(url + "/allocation/owen", json={"game": {}}),
        "allocation_413": lambda: httpx.post(url + "/allocation/owen",
                                             content=b" " * (5 * MiB),
                                             headers={"Content-Type": "application/json"}),
        "operator_401": lambda: httpx.post(url + "/v1/main/blocks"),
    }[case]()
    assert r.status_code >= 400
    detail = r.json()["detail"]
    assert isinstance(detail, dict) and set(detail) >= {"reason", "message"}, r.text
    assert isinstance(detail["reason"], str) and detail["reason"] and detail["message"]
    for key in ("field", "limit"):
        assert key not in detail or isinstance(detail[key], str)


def test_constructing_a_refusal_counts_nothing():
    from hub.service.errors import AuthError, HubError
    from hub.service.metrics import REFUSED

    before = REFUSED.labels(reason="some_reason")._value.get()
    HubError("some_reason", "built, never answered")
    AuthError("some_reason", "built, never answered")
    assert REFUSED.labels(reason="some_reason")._value.get() == before
