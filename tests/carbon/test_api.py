"""The /carbon router over real HTTP: uvicorn on a free loopback port, httpx as client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from hub.carbon.errors import Reason, rejected_count

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "carbon"


def test_trace_case(base_url):
    body = {"case": "case33bw", "snapshot": {"ext_grids": {"0": {"t_per_mwh": 0.55}}}}
    r = httpx.post(base_url + "/carbon/trace", json=body, timeout=60)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["network"] == "case33bw"
    assert {b["intensity_g_per_kwh"] for b in rep["buses"]} == {550}
    t = rep["totals"]
    assert t["loss_mw"] == pytest.approx(0.2027, abs=1e-4)
    assert t["load_carbon_g_per_h"] + t["loss_carbon_g_per_h"] == t["generator_emissions_g_per_h"]


def test_trace_dc(base_url):
    body = {"case": "case33bw", "dc": True, "snapshot": {"ext_grids": {"0": {"t_per_mwh": 0.55}}}}
    r = httpx.post(base_url + "/carbon/trace", json=body, timeout=60)
    assert r.status_code == 200, r.text
    t = r.json()["totals"]
    assert t["loss_mw"] == 0  # the DC power flow is lossless
    assert t["load_mw"] == pytest.approx(3.715)  # case33bw's published total load
    assert {b["intensity_g_per_kwh"] for b in r.json()["buses"]} == {550}


def test_trace_user_network_as_object_and_as_string(base_url):
    text = (EXAMPLES / "network-feeder.json").read_text()
    snap = json.loads((EXAMPLES / "snapshot-feeder.json").read_text())
    results = []
    for network in (json.loads(text), text):
        r = httpx.post(base_url + "/carbon/trace",
                       json={"network": network, "snapshot": snap}, timeout=60)
        assert r.status_code == 200, r.text
        results.append(r.json()["totals"]["generator_emissions_g_per_h"])
    assert results[0] == results[1] == pytest.approx(0.9 * 2.0027e6, rel=1e-3)


def test_series(base_url):
    profile = json.loads((EXAMPLES / "profile-day.json").read_text())
    r = httpx.post(base_url + "/carbon/series", json={"case": "case33bw", "profile": profile},
                   timeout=120)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["day"]["hours_traced"] == 24 and len(rep["hours"]) == 24


@pytest.mark.parametrize(
    "body, status, field, reason",
    [
        ({"case": "case34"}, 422, "case", Reason.UNKNOWN_CASE),
        ({"case": "case9", "snapshot": {"loads": {"50": {"p_mw": 1}}}}, 422,
         "snapshot.loads.50", Reason.UNKNOWN_ELEMENT),
        ({"network": {"bus": 3}}, 422, "network", Reason.BAD_NETWORK),
        ({"case": "case33bw", "snapshot": {"loads": {"17": {"p_mw": 500}}}}, 422, "snapshot",
         Reason.NOT_CONVERGED),
    ],
)
def test_refusals_name_the_field_and_are_counted(base_url, body, status, field, reason):
    before = rejected_count(reason)
    r = httpx.post(base_url + "/carbon/trace", json=body, timeout=60)
    assert r.status_code == status
    detail = r.json()["detail"]
    assert detail["field"] == field and detail["reason"] == reason.value
    assert detail["message"]
    assert rejected_count(reason) == before + 1


@pytest.mark.parametrize(
    "path, body",
    [
        ("/carbon/trace", {"case": "case9", "network": {}}),
        ("/carbon/trace", {}),
        ("/carbon/trace", {"case": "case9", "snapshot": {"gens": {"0": {"t_per_mwh": -1}}}}),
        ("/carbon/series", {"case": "case9", "profile": {"load": [1] * 5}}),
    ],
)
def test_bodies_fastapi_refuses_are_counted_too(base_url, path, body):
    before = rejected_count(Reason.BAD_REQUEST)
    r = httpx.post(base_url + path, json=body, timeout=60)
    assert r.status_code == 422
    assert r.json()["detail"]["errors"][0]["loc"][0] == "body"
    assert rejected_count(Reason.BAD_REQUEST) == before + 1


def test_openapi_documents_both_endpoints_with_examples(base_url):
    spec = httpx.get(base_url + "/openapi.json", timeout=10).json()
    for path in ("/carbon/trace", "/carbon/series"):
        op = spec["paths"][path]["post"]
        assert op["summary"] and op["description"]
        assert op["requestBody"]["content"]["application/json"]["examples"]
        assert "422" in op["responses"]


def test_documented_examples_run(base_url):
    spec = httpx.get(base_url + "/openapi.json", timeout=10).json()
    for path in ("/carbon/trace", "/carbon/series"):
        examples = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"][
            "examples"]
        for ex in examples.values():
            r = httpx.post(base_url + path, json=ex["value"], timeout=120)
            assert r.status_code == 200, (path, r.text)
