"""Every /carbon API limit (hub.carbon.limits) over real HTTP (uvicorn on a free port):
refused with the field, the limit and a count; and the inputs that made the API answer 500
before, now answered."""

from __future__ import annotations

import json
import sys

import httpx
import pandapower as pp
import pytest

from hub.carbon.errors import REJECTED, Reason, rejected_count
from hub.carbon.limits import CASE_BUSES, LIMITS, foreign_module
from hub.carbon.networks import builtin_cases, load_case, network_to_json


def over_limit() -> float:
    return REJECTED.labels(reason="over_limit")._value.get()


def refused(base_url: str, path: str, body: object, field: str, limit: str,
            status: int = 422) -> dict:
    before = over_limit()
    r = httpx.post(base_url + path, json=body, timeout=60)
    assert r.status_code == status, r.text[:500]
    detail = r.json()["detail"]
    assert detail["field"] == field and detail["limit"] == limit, detail
    assert detail["reason"] == "over_limit" and f"(limit {limit})" in detail["message"]
    assert over_limit() == before + 1
    return detail


def feeder(buses: int, lines: int = 0, loads: int = 0) -> dict:
    """A radial feeder of `buses` buses (plus extra parallel lines and loads), as JSON."""
    net = pp.create_empty_network()
    idx = pp.create_buses(net, buses, vn_kv=20.0)
    pp.create_ext_grid(net, idx[0])
    n = max(buses - 1, 0) + lines
    fr = [idx[i % (buses - 1)] for i in range(n)]
    to = [idx[i % (buses - 1) + 1] for i in range(n)]
    if n:
        pp.create_lines(net, fr, to, length_km=1.0, std_type="NA2XS2Y 1x95 RM/25 12/20 kV")
    if loads:
        pp.create_loads(net, [idx[-1]] * loads, p_mw=0.001)
    return json.loads(network_to_json(net))


PROFILE = {"load": [1.0] * 24}


# -- cases ---------------------------------------------------------------------------------
def test_the_case_table_is_pandapowers():
    assert set(CASE_BUSES) == set(builtin_cases()), "pandapower's case list changed"
    for name in ("case3120sp", "case6470rte", "case33bw"):
        assert len(load_case(name).bus) == CASE_BUSES[name]
    assert "case9241pegase" in LIMITS.trace_cases()
    assert "case3120sp" in LIMITS.series_cases() and "case6470rte" not in LIMITS.series_cases()


def test_series_on_a_case_above_max_series_buses(base_url):
    detail = refused(base_url, "/carbon/series", {"case": "case6470rte", "profile": PROFILE},
                     "case", "max_series_buses")
    assert "6470 buses" in detail["message"]


def test_unknown_case_keeps_its_own_reason(base_url):
    before = rejected_count(Reason.UNKNOWN_CASE)
    r = httpx.post(base_url + "/carbon/trace", json={"case": "case_nonesuch"}, timeout=60)
    assert r.status_code == 422 and r.json()["detail"]["reason"] == "unknown_case"
    assert rejected_count(Reason.UNKNOWN_CASE) == before + 1


# -- user networks ---------------------------------------------------------------------------
def test_user_network_bus_limits(base_url):
    detail = refused(base_url, "/carbon/trace", {"network": feeder(LIMITS.max_buses + 1)},
                     "network", "max_buses")
    assert f"{LIMITS.max_buses + 1} buses" in detail["message"]
    refused(base_url, "/carbon/series",
            {"network": feeder(LIMITS.max_series_buses + 1), "profile": PROFILE},
            "network", "max_series_buses")


def test_user_network_branch_and_element_limits(base_url):
    refused(base_url, "/carbon/trace", {"network": feeder(3, lines=LIMITS.max_branches)},
            "network", "max_branches")
    refused(base_url, "/carbon/trace", {"network": feeder(3, loads=LIMITS.max_elements)},
            "network", "max_elements")


def test_a_small_user_network_is_served(base_url):
    r = httpx.post(base_url + "/carbon/trace", json={"network": feeder(4, loads=2)}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["totals"]["load_mw"] == pytest.approx(0.002)


def test_a_network_naming_other_modules_is_refused_before_pandapower_imports_them(base_url):
    assert "tabnanny" not in sys.modules
    net = feeder(3)
    net["_object"]["bus"]["_module"] = "tabnanny"
    # The same, hidden in the JSON text of a table with an escaped key.
    hidden = feeder(3)
    hidden["_object"]["bus"]["_object"] = '{"\\u005fmodule": "tabnanny", "_class": "x"}'
    before = rejected_count(Reason.BAD_NETWORK)
    for doc in (net, hidden, json.dumps(hidden)):
        r = httpx.post(base_url + "/carbon/trace", json={"network": doc}, timeout=60)
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert detail["field"] == "network" and "'tabnanny'" in detail["message"]
    assert rejected_count(Reason.BAD_NETWORK) == before + 3
    assert "tabnanny" not in sys.modules


def test_foreign_module_reads_nested_json():
    assert foreign_module(json.loads(network_to_json(load_case("case9")))) is None
    assert foreign_module({"a": ['  {"_module": "os.path"}']}) == "os.path"
    assert foreign_module({"_module": "pandapower.auxiliary", "x": [{"_module": "numpy"}]}) \
        is None


# -- bodies ------------------------------------------------------------------------------------
def test_bodies_above_max_body_bytes_are_413(base_url):
    big = b'{"network": "' + b" " * LIMITS.max_body_bytes + b'"}'
    before = over_limit()
    r = httpx.post(base_url + "/carbon/trace", content=big, timeout=60,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    detail = r.json()["detail"]
    assert detail["field"] == "body" and detail["limit"] == "max_body_bytes"

    def chunks():  # no Content-Length: the server must stop reading on its own
        for i in range(0, len(big), 1 << 20):
            yield big[i:i + (1 << 20)]

    r = httpx.post(base_url + "/carbon/trace", content=chunks(), timeout=60,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert over_limit() == before + 2
    before = rejected_count(Reason.BAD_REQUEST)
    r = httpx.post(base_url + "/carbon/trace", content=b"\xff\xfe{", timeout=60,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and rejected_count(Reason.BAD_REQUEST) == before + 1


# -- series length and the former 500s ------------------------------------------------------------
def test_series_length_is_series_hours(base_url):
    for hours in (LIMITS.series_hours - 1, LIMITS.series_hours + 1):
        r = httpx.post(base_url + "/carbon/series",
                       json={"case": "case9", "profile": {"load": [1.0] * hours}}, timeout=60)
        assert r.status_code == 422
        assert r.json()["detail"]["errors"][0]["loc"][-2:] == ["profile", "load"]


def test_negative_profile_factors_are_refused(base_url):
    # FastAPI hands trace_series a Profile model, which it took as already checked: 500.
    before = rejected_count(Reason.BAD_PROFILE)
    r = httpx.post(base_url + "/carbon/series", timeout=60, json={
        "case": "case14", "profile": {"load": [-1e308] + [1.0] * 23}})
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "profile.load.0"
    assert rejected_count(Reason.BAD_PROFILE) == before + 1


def test_a_day_without_load_is_traced(base_url):
    # No flow anywhere made the balance check add floats into an int64 array: 500.
    r = httpx.post(base_url + "/carbon/series", timeout=60,
                   json={"case": "case33bw", "profile": {"load": [0.0] * 24}})
    assert r.status_code == 200, r.text
    day = r.json()["day"]
    assert day["hours_traced"] == 24 and day["generator_emissions_g"] == 0


def test_absurd_intensities_are_a_422(base_url):
    # 3.6e16 t/MWh overflowed the whole-gram (int64) totals of the report: 500.
    before = rejected_count(Reason.BAD_SNAPSHOT)
    snap = {"defaults": {"gen": 2.4e16, "ext_grid": 3.6e16}}
    for path, extra in (("/carbon/trace", {}), ("/carbon/series", {"profile": PROFILE})):
        r = httpx.post(base_url + path, json={"case": "case14", "snapshot": snap, **extra},
                       timeout=60)
        assert r.status_code == 422, r.text
        assert r.json()["detail"]["field"] == "snapshot"
    assert rejected_count(Reason.BAD_SNAPSHOT) == before + 2


def test_openapi_lists_the_served_cases_and_the_limits(base_url):
    doc = httpx.get(base_url + "/openapi.json", timeout=30).json()
    schemas = doc["components"]["schemas"]

    def enum(model: str) -> list[str]:
        (choice,) = [s for s in schemas[model]["properties"]["case"]["anyOf"] if "enum" in s]
        return choice["enum"]

    assert enum("TraceRequest") == list(LIMITS.trace_cases())
    assert enum("SeriesRequest") == list(LIMITS.series_cases())
    for path in ("/carbon/trace", "/carbon/series"):
        op = doc["paths"][path]["post"]
        assert {"400", "413", "422"} <= set(op["responses"])
        assert f"{LIMITS.max_buses} buses" in op["description"]


def test_a_ready_made_profile_is_still_checked_for_negative_scalings():
    from hub.carbon.errors import CarbonInputError
    from hub.carbon.series import HOURS, Profile, parse_profile

    prof = Profile(load=[1.0] * (HOURS - 1) + [-0.5])
    with pytest.raises(CarbonInputError, match="negative"):
        parse_profile(prof)
