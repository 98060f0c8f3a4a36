"""Every /allocation API limit (hub.allocation.limits): refused with the field, the limit and
a count, before the work is done; and what stays within them is served."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from hub.allocation import api
from hub.allocation.game import Structure, needed_coalitions
from hub.allocation.limits import LIMITS, sampled_reads_per_round, table_values_needed
from tests.allocation.conftest import count

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "owen"

pytestmark = pytest.mark.anyio


def market(ng: int, nl: int, regions: int, buses: int = 0, lines: int = 0,
           seed: int = 1) -> dict:
    """A random market game; with buses, a connected network whose lines all have limits."""
    rnd = random.Random(seed)
    names = [f"b{i}" for i in range(buses)]

    def at() -> dict:
        return {"bus": rnd.choice(names)} if buses else {}

    game: dict = {
        "kind": "market",
        "generators": [{"id": f"g{i}", "region": f"r{i % regions}", "qmax_wh":
                        rnd.randint(1000, 100000), "price": rnd.randint(0, 90000),
                        "intensity_g_per_kwh": rnd.randint(0, 1000), **at()} for i in range(ng)],
        "loads": [{"id": f"l{i}", "region": f"r{i % regions}", "qmax_wh":
                   rnd.randint(1000, 100000), "price": rnd.randint(0, 90000), **at()}
                  for i in range(nl)],
    }
    if buses:
        ls = [{"id": f"L{i}", "from": names[i], "to": names[i + 1], "x": 0.1, "limit_w": 3000}
              for i in range(buses - 1)]
        while len(ls) < lines:
            a, b = rnd.sample(range(buses), 2)
            ls.append({"id": f"M{len(ls)}", "from": names[a], "to": names[b], "x": 0.3,
                       "limit_w": 5000})
        game["network"] = {"buses": names, "lines": ls}
    return game


def table(unions: dict[str, list[str]], seed: int = 1) -> dict:
    """A table game listing every coalition its unions need, with random values."""
    rnd = random.Random(seed)
    st = Structure.from_unions(unions)
    values = {",".join(st.members(m)): rnd.randint(0, 100) for m in needed_coalitions(st) if m}
    return {"kind": "table", "unions": unions, "values": values}


async def refused(client, path: str, body: object, field: str, limit: str,
                  status: int = 422) -> str:
    before = count(field)
    r = await client.post(path, json=body)
    assert r.status_code == status, r.text[:500]
    detail = r.json()["detail"]
    assert (detail["reason"], detail["field"], detail["limit"]) == ("bad_input", field, limit)
    assert detail["message"].startswith(f"{field}:"), detail
    assert count(field) == before + 1
    return detail["message"]


# -- the cost model --------------------------------------------------------------------
@pytest.mark.parametrize("sizes", [[1], [3], [2, 1], [1, 1, 1], [3, 2, 4], [1, 5], [2, 2, 2, 2]])
def test_table_values_needed_is_the_enumeration(sizes):
    names = {f"u{k}": [f"p{k}_{j}" for j in range(n)] for k, n in enumerate(sizes)}
    st = Structure.from_unions(names)
    assert table_values_needed(sizes) == len([m for m in needed_coalitions(st) if m])


def test_sampled_reads_per_round_bounds_one_round():
    from hub.allocation.game import Memo
    from hub.allocation.owen import owen_sampled
    from hub.allocation.schema import game_from, parse_game

    game = game_from(parse_game(table({"a": ["a1", "a2", "a3"], "b": ["b1"], "c": ["c1", "c2"]})))
    memo = Memo(game)
    owen_sampled(memo, rounds=2)
    bound = 2 * sampled_reads_per_round([3, 1, 2])
    # main design 3 x 3 orderings of 6 players; J_1 = J_2 = 1 designs cut after d unions:
    # 3 orderings per union shift, 3 shifts, the unions' sizes summed d times over them
    assert bound == 2 * (3 * 3 * 6 + 3 * (1 + 2) * 6)
    assert memo.evaluations + memo.hits == bound + 1  # + v(N), read once for the report


# -- size limits -----------------------------------------------------------------------
async def test_players_above_the_limit(client):
    async with client:
        body = {"game": market(33, 32, 2)}
        detail = await refused(client, "/allocation/owen", body, "game", "max_players")
        assert "65 players" in detail
        body = {"game": {"kind": "table", "unions": {"u": [f"p{i}" for i in range(40)],
                                                     "v": [f"q{i}" for i in range(25)]},
                         "values": {"p0": 1}}}
        await refused(client, "/allocation/owen", body, "game.unions", "max_players")
        # One list beyond the limit is refused by the schema (OpenAPI maxItems), also counted.
        before = count("game.market.generators")
        r = await client.post("/allocation/owen", json={"game": market(65, 1, 1)})
        assert r.status_code == 422 and r.json()["detail"]["errors"][0]["ctx"]["max_length"] == 64
        assert count("game.market.generators") == before + 1


async def test_a_table_structure_needing_too_many_values_is_refused_before_enumerating(client):
    async with client:
        # 64 singleton unions need 2^64 - 1 coalitions: enumerating them would never end.
        body = {"game": {"kind": "table", "unions": {f"u{i}": [f"p{i}"] for i in range(64)},
                         "values": {"p0": 1}}}
        detail = await refused(client, "/allocation/owen", body, "game.unions",
                               "max_table_values")
        assert str(2**64 - 1) in detail
        body = {"game": {"kind": "table", "unions": {"u": [f"p{i}" for i in range(17)]},
                         "values": {"p0": 1}}}
        await refused(client, "/allocation/owen", body, "game.unions", "max_table_values")


async def test_table_values_bounded_in_count_and_magnitude(client):
    async with client:
        many = {"kind": "table", "unions": {"u": ["a"]},
                "values": {f"k{i}": 0 for i in range(LIMITS.max_table_values + 1)}}
        before = count("game.table.values")
        r = await client.post("/allocation/owen", json={"game": many})
        assert r.status_code == 422 and "at most 65536" in r.json()["detail"]["errors"][0]["msg"]
        assert count("game.table.values") == before + 1
        # "1e9999999" as Fraction text takes seconds to read and overflows float reports.
        for bad in ("1e9999999", 10**19, 1e300):
            game = {"kind": "table", "unions": {"u": ["a"]}, "values": {"a": bad}}
            r = await client.post("/allocation/owen", json={"game": game})
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["detail"]["errors"][0]["loc"][:4] == ["body", "game", "table", "values"]
        game = {"kind": "table", "unions": {"u": ["a", "b"]},
                "values": {"a": "1/3", "b": "-0.25", "a,b": 10**18}}
        r = await client.post("/allocation/owen", json={"game": game})
        assert r.status_code == 200, r.text
        assert r.json()["grand_value"] == 10**18


async def test_network_size_and_ladder_size(client):
    async with client:
        r = await client.post("/allocation/owen", json={"game": market(2, 2, 1, 65, 70)})
        assert r.status_code == 422 and r.json()["detail"]["errors"][0]["loc"][-1] == "buses"
        r = await client.post("/allocation/owen", json={"game": market(2, 2, 1, 10, 129)})
        assert r.status_code == 422 and r.json()["detail"]["errors"][0]["loc"][-1] == "lines"
        g = json.loads((EXAMPLES / "market.json").read_text())
        r = await client.post("/allocation/prices",
                              json={"game": g, "tiers": [[i, 10] for i in range(65)]})
        assert r.status_code == 422 and r.json()["detail"]["errors"][0]["loc"] == ["body", "tiers"]
        r = await client.post("/allocation/prices", json={"game": g, "p_high": 1e300})
        assert r.status_code == 422 and r.json()["detail"]["errors"][0]["loc"] == ["body", "p_high"]


async def test_bodies_above_max_body_bytes_are_413(client):
    async with client:
        big = b'{"game": {"kind": "table", "unions": {"u": ["a"]}, "values": {"a": "' \
              + b"1" * LIMITS.max_body_bytes + b'"}}}'
        before = count("body")
        r = await client.post("/allocation/owen", content=big,
                              headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert "limit max_body_bytes" in r.json()["detail"]["message"]
        assert count("body") == before + 1

        async def chunks():  # no Content-Length: the reader must stop on its own
            for i in range(0, len(big), 1 << 16):
                yield big[i:i + (1 << 16)]

        r = await client.post("/allocation/owen", content=chunks(),
                              headers={"content-type": "application/json"})
        assert r.status_code == 413 and count("body") == before + 2
        r = await client.post("/allocation/owen", content=b"\xff\xfe{",
                              headers={"content-type": "application/json"})
        assert r.status_code == 400 and count("body") == before + 3


# -- work limits ---------------------------------------------------------------------------
async def test_forced_exact_beyond_the_clearing_budget(client):
    async with client:
        # One region of 17: exact reads 2^17 coalitions, each a clearing.
        body = {"game": market(9, 8, 1), "method": "exact"}
        detail = await refused(client, "/allocation/owen", body, "method", "max_clearings")
        assert str(1 << 17) in detail
        # With limited lines the budget is max_lp_clearings: one region of 13 reads 2^13.
        body = {"game": market(7, 6, 1, 3, 3), "method": "exact"}
        detail = await refused(client, "/allocation/owen", body, "method", "max_lp_clearings")
        assert str(1 << 13) in detail


async def test_forced_exact_beyond_max_exact_coalitions(client, monkeypatch):
    monkeypatch.setattr(api, "LIMITS", dataclasses.replace(LIMITS, max_exact_coalitions=16))
    async with client:
        body = {"game": table({"u": ["a", "b", "c"], "v": ["d", "e"]}), "method": "exact"}
        detail = await refused(client, "/allocation/owen", body, "method",
                               "max_exact_coalitions")
        assert "exact reads 24 coalition values" in detail


async def test_rounds_times_players_beyond_the_budget(client):
    async with client:
        # One region of 64: a round reads up to 64 * 64 values; 2^16 / 4096 = 16 rounds.
        body = {"game": market(32, 32, 1), "method": "sampled", "rounds": 17}
        detail = await refused(client, "/allocation/owen", body, "rounds", "max_clearings")
        assert "at most 16 rounds" in detail
        before = count("rounds")
        r = await client.post("/allocation/owen",
                              json={"game": market(2, 2, 1), "rounds": LIMITS.max_rounds + 1})
        assert r.status_code == 422 and r.json()["detail"]["errors"][0]["loc"] == ["body", "rounds"]
        assert count("rounds") == before + 1


async def test_a_game_too_large_even_for_two_rounds(client):
    async with client:
        # Limited lines, one region of 46: a round reads up to 2116 > 4096 / 2 clearings.
        body = {"game": market(23, 23, 1, 4, 4)}
        detail = await refused(client, "/allocation/owen", body, "game", "max_lp_clearings")
        assert "too large" in detail


async def test_target_rel_se_stops_at_the_round_cap(client, monkeypatch):
    async with client:
        game = table({"a": ["a1", "a2", "a3"], "b": ["b1", "b2"], "c": ["c1"]})
        r = await client.post("/allocation/owen", json={"game": game, "method": "sampled",
                                                        "target_rel_se": 1e-12})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["rounds"] == LIMITS.max_rounds
        assert body["max_se"] > 1e-12 * abs(body["grand_value"])  # the target was not met
        # A smaller budget stops it earlier: 2^11 clearings / (1 * 16 * 16) = 8 rounds.
        monkeypatch.setattr(api, "LIMITS", dataclasses.replace(LIMITS, max_clearings=1 << 11))
        r = await client.post("/allocation/owen", json={
            "game": market(8, 8, 1), "method": "sampled", "rounds": 2, "target_rel_se": 1e-12})
        assert r.status_code == 200, r.text
        assert r.json()["rounds"] == 8


async def test_auto_samples_when_exact_would_exceed_the_budget(client):
    async with client:
        # One region of 14 with limited lines: exact would read 2^14 > 2^12 LP clearings.
        r = await client.post("/allocation/owen", json={"game": market(7, 7, 1, 2, 1),
                                                        "rounds": 4})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["method"] == "sampled" and body["exact_cost"] == 1 << 14
        assert body["coalitions_evaluated"] <= 4 * 14 * 14


async def test_a_failing_network_lp_is_a_422_not_a_500(client):
    # This game's DC-OPF LP made HiGHS stop with status 4 (numerical trouble), which
    # dcopf.solve raises as RuntimeError: the API answered 500. If the LP is fixed, it is a 200.
    async with client:
        before = count("game.network")
        r = await client.post("/allocation/owen", json={"game": market(5, 5, 2, 64, 128, 19)})
        assert r.status_code in (200, 422), r.text
        if r.status_code == 422:
            assert r.json()["detail"]["message"].startswith("game.network: the clearing LP failed")
            assert count("game.network") == before + 1


async def test_openapi_states_the_limits(client):
    async with client:
        doc = (await client.get("/openapi.json")).json()
    op = doc["paths"]["/allocation/owen"]["post"]
    assert {"400", "413", "422"} <= set(op["responses"])
    assert f"at most {LIMITS.max_players} players" in op["description"]
    schemas = doc["components"]["schemas"]
    assert schemas["MarketGameIn"]["properties"]["generators"]["maxItems"] == 64
    assert schemas["OwenRequest"]["properties"]["rounds"]["maximum"] == LIMITS.max_rounds
