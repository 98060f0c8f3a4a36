"""The /allocation router over real HTTP semantics (httpx ASGI transport)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.allocation.conftest import count

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "owen"


pytestmark = pytest.mark.anyio


def market() -> dict:
    return json.loads((EXAMPLES / "market.json").read_text())


async def test_owen_market_and_table(client):
    async with client:
        r = await client.post("/allocation/owen", json={"game": market()})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["grand_value"] == 85500 and body["method"] == "exact"
        assert {p["id"]: p["value"] for p in body["players"]}["coal"] == 37750
        table = json.loads((EXAMPLES / "table.json").read_text())
        r = await client.post("/allocation/owen", json={"game": table, "method": "sampled",
                                                        "rounds": 30, "seed": 1})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["method"] == "sampled" and body["rounds"] == 30
        assert sum(p["value"] for p in body["players"]) == pytest.approx(10, abs=1.5)


async def test_prices_returns_adders_and_signal(client):
    async with client:
        r = await client.post("/allocation/prices",
                              json={"game": market(), "interval": "2024-06-01T12:00Z"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert {e["id"]: e["adder"] for e in body["entities"]}["coal"] == 18278
        assert body["signal"]["interval"] == "2024-06-01T12:00Z"
        assert body["blind"]["emissions_g"] == 85500
        r = await client.post("/allocation/prices",
                              json={"game": market(), "tiers": [[0, 10], [1, 10]]})
        assert r.status_code == 200
        r10 = {e["id"]: e["adder"] for e in r.json()["entities"]}
        # A flat 10 $/t above a_min: coal's cost is 10 * (37750 + 15500) micro-$ over 90 kWh.
        assert r10["coal"] == round(10 * 53250 * 1000 / 90000)


async def test_bad_bodies_are_422_and_counted(client):
    async with client:
        before = count("game.market.generators.0.price")
        bad = market()
        bad["generators"][0]["price"] = -5
        r = await client.post("/allocation/owen", json={"game": bad})
        assert r.status_code == 422
        assert count("game.market.generators.0.price") == before + 1

        before = count("generators")
        bad = market()
        bad["generators"][0]["region"] = "nowhere-bus"
        bad["regions"] = ["north", "south"]
        r = await client.post("/allocation/owen", json={"game": bad})
        assert r.status_code == 422
        assert "region 'nowhere-bus'" in r.json()["detail"]["message"]
        assert count("generators") == before + 1

        before = count("values")
        r = await client.post("/allocation/owen", json={"game": {
            "kind": "table", "unions": {"u": ["a", "b"]}, "values": {"a": 1, "a,b": 2}}})
        assert r.status_code == 422 and "'b' is missing" in r.json()["detail"]["message"]
        assert count("values") == before + 1

        before = count("tiers")
        r = await client.post("/allocation/prices", json={"game": market(),
                                                          "tiers": [[1, 20], [0, 40]]})
        assert r.status_code == 422 and "increase" in r.json()["detail"]["message"]
        assert count("tiers") == before + 1


async def test_openapi_documents_both_routes(client):
    async with client:
        r = await client.get("/openapi.json")
        paths = r.json()["paths"]
        assert {"/allocation/owen", "/allocation/prices"} <= set(paths)


def test_building_a_game_error_counts_nothing_answering_it_counts_once():
    from hub.allocation.schema import bad
    from hub.allocation.schema import count as answer

    before = count("rounds")
    exc = bad("rounds", "rounds: made but never answered")
    assert count("rounds") == before
    answer(exc)
    assert count("rounds") == before + 1
