"""The allocation loop over real HTTP: pushed bids -> period block on the main chain -> signals.

The tiny game (2 regions, 3 entities) is checked against numbers computed
here independently: the Owen value by brute force over every ordering of
the players in which each region's members come together (the definition,
not the double sum the hub uses), the clearing by a three-line merit order,
the ladder by its formula.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from fractions import Fraction

import httpx
import pytest

from edge.chain.block import make_block
from edge.clock import Clock, SteppedWall
from edge.protocol.auth import check_signature
from edge.protocol.canonical import canonical
from hub.period.proofs import check_record
from hub.service import registry
from tests.kit.hub import EdgeChain, ServedApp, block_json, push, signed_request

PERIOD_S = 900
TAG = "ab" * 32

# site, gw, side, qty_wh, price (micro/kWh), intensity (g/kWh, sellers; from the config)
COAL = ("site-a", "coal", "sell", 1000, 45_000, 900)
HOME = ("site-a", "home", "buy", 800, 100_000, 0)
GAS = ("site-b", "gas", "sell", 1000, 50_000, 400)
PLAYERS = (COAL, HOME, GAS)


def bid(site, gw, side, qty, price, interval, seq=1, rnd=0):
    return {"v": 1, "type": "bid", "site": site, "gw": gw, "seq": seq, "ts": interval * 1000,
            "tag": TAG, "interval": interval, "side": side, "qty_wh": qty, "price": price,
            "round": rnd}


def blocks_with(chain: EdgeChain, txs: list[dict]) -> list:
    """One more block on ``chain`` holding ``txs``."""
    height = len(chain.blocks)
    prev = chain.blocks[-1].header.hash() if chain.blocks else "00" * 32
    chain.ts += 1000
    block = make_block(chain=chain.chain, height=height, prev=prev, ts=chain.ts,
                       key=chain.key, txs=txs)
    chain.blocks.append(block)
    return [block]


# -- the independent reference ---------------------------------------------------------
def v(coalition) -> int:
    """Emissions (mg) of the merit-order clearing with only these players."""
    sells = sorted((p for p in coalition if p[2] == "sell"), key=lambda p: p[4])
    buys = sorted((p for p in coalition if p[2] == "buy"), key=lambda p: -p[4])
    mg, si, left_s = 0, 0, [p[3] for p in sells]
    for b in buys:
        want = b[3]
        while want and si < len(sells) and sells[si][4] <= b[4]:
            q = min(want, left_s[si])
            mg += q * sells[si][5]
            want -= q
            left_s[si] -= q
            if not left_s[si]:
                si += 1
    return mg


def owen_brute_force(players, region_of) -> dict:
    """Mean marginal contribution over the orderings that keep each region together."""
    total = {p: Fraction(0) for p in players}
    count = 0
    for order in itertools.permutations(players):
        regions = [region_of(p) for p in order]
        if any(regions.index(r) != i and regions[i - 1] != r for i, r in enumerate(regions)):
            continue
        count += 1
        before: list = []
        for p in order:
            total[p] += v(before + [p]) - v(before)
            before.append(p)
    return {p: t / count for p, t in total.items()}


def ladder_cost_micro(phi_g: Fraction, side_values_g: list, p_low=20, p_high=40) -> Fraction:
    a_min = min(side_values_g)
    a_avg = sum(side_values_g, Fraction(0)) / len(side_values_g)
    return (p_low * min(max(phi_g - a_min, 0), a_avg - a_min)
            + p_high * max(phi_g - a_avg, 0))


def expected():
    phi = owen_brute_force(PLAYERS, lambda p: p[0])
    assert sum(phi.values()) == v(PLAYERS)  # efficiency of the reference itself
    gens = [phi[p] / 1000 for p in PLAYERS if p[2] == "sell"]
    loads = [phi[p] / 1000 for p in PLAYERS if p[2] == "buy"]
    cost = {p: ladder_cost_micro(phi[p] / 1000, gens if p[2] == "sell" else loads)
            for p in PLAYERS}
    return phi, cost


def test_the_reference_matches_the_hand_computation():
    """By hand: v(coal,home)=800*900, v(gas,home)=800*400, v(all)=800*900 (coal is cheaper).
    Region B (gas) adds nothing once A is in and A alone is worth everything: B gets 0.
    coal = 1/2 [1/2 (720000 - 0)] + 1/2 [1/2 (720000 - 320000)] = 180000 + 100000 = 280000."""
    phi, cost = expected()
    assert phi == {COAL: 280_000, HOME: 440_000, GAS: 0}
    # generators: a_min 0, a_avg 140 g -> coal 20*140 + 40*140 = 8400 micro; one load: 0
    assert cost == {COAL: 8400, HOME: 0, GAS: 0}


# -- over HTTP -----------------------------------------------------------------------
def _config(tmp_path, **extra) -> str:
    path = tmp_path / "loop.json"
    path.write_text(json.dumps({"period_s": PERIOD_S, "signal_offset": 1,
                                "intensities": {"site-a/coal": 900, "site-b": 400}, **extra}))
    return str(path)


def _push_tiny_game(hub, period: int) -> tuple[EdgeChain, EdgeChain]:
    a, b = EdgeChain(chain="site-a"), EdgeChain(chain="site-b")
    hub.register(a.key, site="site-a")
    hub.register(b.key, site="site-b")
    # coal first quotes 60_000 in round 0, then revises to 45_000 in round 1: the last counts.
    r = push(hub, a.key, blocks_with(a, [bid("site-a", "coal", "sell", 1000, 60_000, period, 1),
                                          bid(*HOME[:5], period, seq=2)]))
    assert r.status_code == 200, r.text
    r = push(hub, a.key, blocks_with(a, [bid(*COAL[:5], period, seq=3, rnd=1),
                                          {"type": "telemetry_digest", "gw": "coal", "seq": 9,
                                           "ts": 1, "sha256": TAG},
                                          bid("site-a", "late", "buy", 5, 5, period + PERIOD_S),
                                          bid("site-b", "spoof", "sell", 5, 5, period)]))
    assert r.status_code == 200, r.text
    r = push(hub, b.key, blocks_with(b, [bid(*GAS[:5], period, seq=1),
                                          {**bid("site-b", "bad", "sell", 5, 5, period),
                                           "qty_wh": 0}]))
    assert r.status_code == 200, r.text
    return a, b


def test_a_period_run_by_the_operator_records_checkable_records_and_publishes_signals(
        hub_factory, tmp_path):
    hub = hub_factory(extra_args=["--allocation-config", _config(tmp_path)]).start()
    now_s = int(time.time())
    period = now_s - now_s % PERIOD_S - PERIOD_S
    a, b = _push_tiny_game(hub, period)

    r = hub.operator("POST", f"/v1/periods/{period + 1}/run")
    assert r.status_code == 400 and r.json()["detail"]["reason"] == "bad_period"
    r = hub.operator("POST", f"/v1/periods/{period + 2 * PERIOD_S}/run")
    assert r.status_code == 400 and r.json()["detail"]["reason"] == "future_period"
    assert httpx.post(f"{hub.url}/v1/periods/{period}/run").status_code == 401

    r = hub.operator("POST", f"/v1/periods/{period}/run")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["created"] is True
    block = got["block"]
    txs = [e["tx"] for e in block["txs"]]
    assert [t["type"] for t in txs] == ["region_report_digest", "region_report_digest",
                                       "allocation", "adders", "clearing"]
    # every record checks with the pinned hub id; a changed number does not
    for entry in block["txs"]:
        assert check_record({"header": block["header"], **entry}, hub.hub_id) == []
    forged = json.loads(json.dumps(block["txs"][2]))
    forged["tx"]["rows"][0]["allocation_mg"] += 1
    assert "inclusion proof" in " ".join(check_record({"header": block["header"], **forged},
                                                      hub.hub_id))
    assert check_record({"header": block["header"], **block["txs"][0]}, "00" * 32) == [
        "header is not produced by the pinned hub key"]

    # the reports: last quote per gateway, only this period's bids, only the edge's own site
    reports = {rep["region"]: rep for rep in got["reports"]}
    assert [(e["gw"], e["price"], e["qmax_wh"], e["intensity_g_kwh"])
            for e in reports["site-a"]["entities"]] == [("coal", 45_000, 1000, 900),
                                                         ("home", 100_000, 800, 0)]
    assert [e["gw"] for e in reports["site-b"]["entities"]] == ["gas"]
    assert reports["site-a"]["entities"][0]["edge"] == a.edge_id
    for t in txs[:2]:
        assert t["sha256"] == hashlib.sha256(canonical(reports[t["region"]])).hexdigest()
    metrics = httpx.get(f"{hub.url}/metrics").text
    assert 'carbon_period_skipped_total{reason="site_mismatch"} 1.0' in metrics
    assert 'carbon_period_skipped_total{reason="bad_bid"} 1.0' in metrics

    phi, cost = expected()
    ids = {COAL: "site-a/coal", HOME: "site-a/home", GAS: "site-b/gas"}
    alloc = {row["id"]: row["allocation_mg"] for row in txs[2]["rows"]}
    assert alloc == {ids[p]: int(phi[p]) for p in PLAYERS}
    assert txs[2]["total_mg"] == 720_000 and txs[2]["method"] == "exact"
    adders = {row["id"]: row for row in txs[3]["rows"]}
    # adder = cost / blind quantity: coal cleared 800 Wh -> 8400 micro * 1000 / 800 Wh
    assert adders["site-a/coal"]["adder"] == cost[COAL] * 1000 / 800 == 10_500
    assert adders["site-a/coal"]["new_price"] == 55_500
    assert adders["site-b/gas"]["q_wh"] == 1000 and adders["site-b/gas"]["adder"] == 0
    # revised: coal at 55_500 is dearer than gas at 50_000, so gas serves the 800 Wh
    clearing = txs[4]
    assert (clearing["blind_emissions_mg"], clearing["revised_emissions_mg"]) == (
        800 * 900, 800 * 400)
    assert {row["id"]: (row["blind_wh"], row["revised_wh"]) for row in clearing["rows"]} == {
        "site-a/coal": (800, 0), "site-a/home": (800, 800), "site-b/gas": (0, 800)}

    # the signals: signed by the hub, valid for the next period, adders by gateway id
    sig_a = httpx.get(f"{hub.url}/v1/prices", params={"site": "site-a"}).json()["signals"]
    sig_b = httpx.get(f"{hub.url}/v1/prices", params={"site": "site-b"}).json()["signals"]
    assert len(sig_a) == len(sig_b) == 1
    for s in sig_a + sig_b:
        check_signature(s, hub.hub_id)
        assert (s["valid_from"], s["valid_to"]) == (period + PERIOD_S, period + 2 * PERIOD_S)
        assert (s["p_low"], s["p_high"]) == (20, 40)
        assert s["intensity_g_kwh"] == 400  # revised emissions / volume: 320000 mg / 800 Wh
    assert sig_a[0]["adders"] == {"coal": 10_500, "home": 0}
    assert sig_b[0]["adders"] == {"gas": 0}

    # the same period again: answered as recorded, nothing new published
    again = hub.operator("POST", f"/v1/periods/{period}/run").json()
    assert again["created"] is False and again["main_height"] == got["main_height"]
    assert len(httpx.get(f"{hub.url}/v1/prices", params={"site": "site-a"}).json()["signals"]) == 1
    assert httpx.get(f"{hub.url}/v1/periods/{period}").json()["block"] == block
    assert httpx.get(f"{hub.url}/v1/periods/{period - PERIOD_S}").status_code == 404
    # a period nobody quoted in records nothing
    r = hub.operator("POST", f"/v1/periods/{period - PERIOD_S}/run")
    assert r.status_code == 200 and r.json()["created"] is False and r.json()["block"] is None
    # the anchoring schedule goes on after a period block: the chain links
    made = hub.make_main_block()
    assert made["created"] and made["block"]["header"]["prev"] == block_hash(block["header"])


def block_hash(header: dict) -> str:
    return hashlib.sha256(canonical(header)).hexdigest()


def test_a_bad_loop_file_stops_the_hub_before_it_serves(hub_factory, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"period_s": 1}))
    hub = hub_factory(extra_args=["--allocation-config", str(bad)])
    with pytest.raises(RuntimeError, match="period_s"):
        hub.start(timeout_s=30)


# -- the schedule and the scoring epoch (in-thread app, manual clock) ---------------------
def _app(tmp_path, clock, **settings):
    from edge.chain.keys import generate_key
    from hub.service.app import create_app
    from hub.service.settings import Settings

    s = Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", main_interval_s=0,
                 operator_token="t" * 32, **settings)
    key = getattr(_app, "key", None) or generate_key()
    _app.key = key
    return create_app(s, clock=clock, key=key)


def test_the_schedule_records_the_due_period_and_publishes(tmp_path):
    now_ms = int(time.time() * 1000)
    period = now_ms // 1000 - (now_ms // 1000) % PERIOD_S
    wall = SteppedWall(now_ms)
    clock = Clock(wall=wall)
    cfg = _config(tmp_path, delay_s=0)
    app = _app(tmp_path, clock, allocation_config=cfg)
    a, b = EdgeChain(chain="site-a"), EdgeChain(chain="site-b")
    with ServedApp(app) as served:
        for chain, site, txs in ((a, "site-a", [bid(*COAL[:5], period), bid(*HOME[:5], period)]),
                                 (b, "site-b", [bid(*GAS[:5], period)])):
            registry.register_edge(app.state.db, f"e-{site}", chain.edge_id, site, now_ms=now_ms)
            r = signed_request(served.url, chain.key, "POST", f"/v1/edges/{chain.edge_id}/blocks",
                               {"blocks": [block_json(x) for x in blocks_with(chain, txs)]},
                               ts_ms=now_ms)
            assert r.status_code == 200, r.text
    app.state.db.close()
    # the same database under a hub with the schedule on: its first tick runs the due period
    app = _app(tmp_path, clock, allocation_config=cfg, allocation_schedule=True)
    with ServedApp(app) as served:
        deadline = time.monotonic() + 30
        while (r := httpx.get(f"{served.url}/v1/periods/{period}")).status_code == 404:
            assert time.monotonic() < deadline, "the schedule did not record the period"
            time.sleep(0.1)
        alloc = r.json()["block"]["txs"][2]["tx"]
        assert {row["id"]: row["allocation_mg"] for row in alloc["rows"]} == {
            "site-a/coal": 280_000, "site-a/home": 440_000, "site-b/gas": 0}
        sig = httpx.get(f"{served.url}/v1/prices", params={"site": "site-a"}).json()["signals"]
        assert sig and sig[0]["adders"] == {"coal": 10_500, "home": 0}
    app.state.db.close()


def test_each_epoch_records_scoring_inputs_and_the_supervisors_come_from_it(tmp_path):
    epoch_s = 60
    cfg = tmp_path / "loop.json"
    cfg.write_text(json.dumps({"scoring": {"epoch_s": epoch_s, "s": 2, "gamma": 1.5}}))
    now_ms = int(time.time() * 1000)
    epoch = now_ms // 1000 - (now_ms // 1000) % epoch_s
    wall = SteppedWall(epoch * 1000 + 1000)
    clock = Clock(wall=wall)
    app = _app(tmp_path, clock, allocation_config=str(cfg))
    token = {"Authorization": "Bearer " + "t" * 32}
    e1, e2, e3 = EdgeChain(), EdgeChain(), EdgeChain()
    for i, c in enumerate((e1, e2, e3)):
        registry.register_edge(app.state.db, f"e{i}", c.edge_id, "site-a", now_ms=epoch * 1000)
    e1.extend(3, txs=3)  # T = 3, tr = 9
    e2.extend(2, txs=2)  # T = 2 (one refused as an equivocation below), tr = 4
    ts = epoch * 1000 + 1000
    with ServedApp(app) as served:
        url = served.url
        assert httpx.get(f"{url}/v1/main/supervisors").status_code == 404
        for c in (e1, e2):
            r = signed_request(url, c.key, "POST", f"/v1/edges/{c.edge_id}/blocks",
                               {"blocks": [block_json(x) for x in c.blocks]}, ts_ms=ts)
            assert r.status_code == 200, r.text
        r = signed_request(url, e2.key, "POST", f"/v1/edges/{e2.edge_id}/blocks",
                           {"blocks": [block_json(e2.other_at(1))]}, ts_ms=ts)
        assert r.status_code == 409
        r = httpx.post(f"{url}/v1/epochs/{epoch}/run", headers=token)
        assert r.status_code == 400 and r.json()["detail"]["reason"] == "epoch_not_over"
        wall.advance(epoch_s * 1000)
        r = httpx.post(f"{url}/v1/epochs/{epoch}/run", headers=token)
        assert r.status_code == 200, r.text
        got = httpx.get(f"{url}/v1/main/supervisors").json()
    app.state.db.close()
    rec = got["record"]
    assert check_record(rec, public_id_of(_app.key)) == []
    nodes = {n["node"]: n for n in rec["tx"]["nodes"]}
    # by hand: e2 stored 2 blocks and offered 1 equivocation: C = 2/(2+1), D = 1/(1+1);
    # e1 and e3 are clean; e3 made nothing (T counts as 1, log2 of tr clamped at 1: P = 0)
    assert (nodes[e2.edge_id]["accuracy_ppm"], nodes[e2.edge_id]["credit_ppm"]) == (
        666_667, 500_000)
    assert (nodes[e1.edge_id]["blocks"], nodes[e1.edge_id]["transactions"]) == (3, 9)
    assert (nodes[e3.edge_id]["blocks"], nodes[e3.edge_id]["p_ppb"]) == (0, 0)
    # the scores use the inputs as recorded (ppm), so anyone can recompute them from the chain
    ca = {e1.edge_id: 1 / math.sqrt(3), e2.edge_id: 0.666667 * 0.5 / math.sqrt(2),
          e3.edge_id: 1.0}
    total = sum(ca.values())
    p = {k: ca[k] / total * 1.5 * math.log2(t)
         for k, t in ((e1.edge_id, 9), (e2.edge_id, 4), (e3.edge_id, 1))}
    for k, want in p.items():
        assert abs(nodes[k]["p_ppb"] - want * 1e9) <= 2
    assert got["supervisors"] == sorted(p, key=lambda k: (-p[k], k))[:2]
    assert rec["tx"]["gamma_milli"] == 1500 and rec["tx"]["s"] == 2


def public_id_of(key) -> str:
    from edge.chain.keys import public_id

    return public_id(key.public_key())


def test_the_trace_publishes_nodal_intensities_from_metered_draws(tmp_path):
    """One source (an external grid at 0.5 t/MWh, the tracer's default) feeding one bus:
    every bus has the source's intensity, 500 g/kWh, and the emissions are 0.5 t per MWh
    of the metered draw plus the line's loss (the invariants of docs/hub.md, checked by hand)."""
    import pandapower as pp

    net = pp.create_empty_network()
    b0, b1 = int(pp.create_bus(net, 20.0)), int(pp.create_bus(net, 20.0))
    pp.create_ext_grid(net, b0)
    pp.create_line(net, b0, b1, 1.0, "NA2XS2Y 1x240 RM/25 12/20 kV")
    pp.create_load(net, b1, p_mw=0.1)
    (tmp_path / "net.json").write_text(pp.to_json(net))
    now_ms = int(time.time() * 1000)
    period = now_ms // 1000 - (now_ms // 1000) % PERIOD_S
    wall = SteppedWall(now_ms)
    clock = Clock(wall=wall)
    cfg = _config(tmp_path, delay_s=0, trace={"network": str(tmp_path / "net.json"),
                                              "buses": {"site-a/m1": b1, "site-a/m2": b1}})
    app = _app(tmp_path, clock, allocation_config=cfg)
    chain = EdgeChain(chain="site-a")
    registry.register_edge(app.state.db, "e-a", chain.edge_id, "site-a", now_ms=now_ms)

    def reading(dev, p_w, ts_s, q="good"):
        return {"type": "meter_reading", "site": "site-a", "dev": dev, "kind": "meter", "q": q,
                "ts": ts_s * 1000, "p_w": p_w}

    txs = [bid(*COAL[:5], period), bid(*HOME[:5], period),
           # m1: 1.0 and 1.4 MW -> mean 1.2 MW; m2: 0.8 MW; the rest does not count
           reading("m1", 1_000_000, period + 1), reading("m1", 1_400_000, period + 2),
           reading("m2", 800_000, period + 3), reading("m2", 9_000_000, period + 4, q="stale"),
           reading("m2", 9_000_000, period + PERIOD_S), reading("m9", 9_000_000, period + 5)]
    with ServedApp(app) as served:
        r = signed_request(served.url, chain.key, "POST", f"/v1/edges/{chain.edge_id}/blocks",
                           {"blocks": [block_json(x) for x in blocks_with(chain, txs)]},
                           ts_ms=now_ms)
        assert r.status_code == 200, r.text
        r = httpx.post(f"{served.url}/v1/periods/{period}/run", timeout=120,
                       headers={"Authorization": "Bearer " + "t" * 32})
        assert r.status_code == 200, r.text
        sig = httpx.get(f"{served.url}/v1/prices", params={"site": "site-a"}).json()["signals"]
    app.state.db.close()
    block = r.json()["block"]
    nodal = block["txs"][-1]["tx"]
    assert nodal["type"] == "nodal_intensity" and nodal["buses"] == {str(b1): 500}
    assert check_record({"header": block["header"], **block["txs"][-1]},
                        public_id_of(_app.key)) == []
    # 2.0 MW metered at bus 1 at 0.5 t/MWh: 1.0 t/h = 1,000,000 g/h, plus a little line loss
    assert 1_000_000 < nodal["generator_emissions_g_per_h"] < 1_010_000
    assert sig[0]["intensity_g_kwh"] == 500


def test_periods_are_market_time_and_reads_go_back_in_wall_time():
    """A simulated clock 60x fast whose market day starts at 2024-06-01 00:00 when the wall
    reads 1_800_000_000_000 ms: period 2024-06-01 01:00 (market) is due at 01:02 with the
    default delay of 120 s; its blocks are read from market 00:00 (4 periods of 15 min
    back), which is the wall clock's origin, and market 01:00 is 3600 s / 60 = 60 wall
    seconds after it."""
    from hub.period.config import LoopFile
    from hub.period.service import PeriodLoop

    day = 1_717_200_000  # 2024-06-01 00:00 UTC
    wall = SteppedWall(1_800_000_000_000)
    clock = Clock(accel=60.0, origin_wall_ms=1_800_000_000_000, origin_sim_ms=day * 1000,
                  wall=wall)
    loop = PeriodLoop(None, None, clock, LoopFile(), periods=True)  # type: ignore[arg-type]
    wall.advance(62 * 60 * 1000 // 60)  # market 01:02
    assert loop.due_period(clock.now_ms()) == day + 3600
    assert loop.wall_at((day + 3600 - 4 * 900) * 1000) == 1_800_000_000_000
    assert loop.wall_at((day + 3600) * 1000) == 1_800_000_000_000 + 60_000
    # the next period (01:15) is due at market 01:17, 15 market minutes = 15 wall seconds on
    assert abs(loop.seconds_to_next() - 15.0) < 1e-6


def test_period_and_anchoring_blocks_share_one_chain_on_both_databases(hub_db):
    """The library path on SQLite and PostgreSQL: a period block, then an anchoring block
    linked to it, the period recorded once, and the receipt code untouched by it."""
    from edge.chain.keys import generate_key
    from hub.period.config import LoopFile
    from hub.period.store import run_period_now
    from hub.service import ingest, mainchain, receipts

    key = generate_key()
    now_ms = int(time.time() * 1000)
    period = now_ms // 1000 - (now_ms // 1000) % PERIOD_S
    loop = LoopFile(period_s=PERIOD_S, intensities={"site-a/coal": 900, "site-b": 400})
    a, b = EdgeChain(chain="site-a"), EdgeChain(chain="site-b")
    for chain, site, txs in ((a, "site-a", [bid(*COAL[:5], period), bid(*HOME[:5], period)]),
                             (b, "site-b", [bid(*GAS[:5], period)])):
        registry.register_edge(hub_db, f"e-{site}", chain.edge_id, site, now_ms=now_ms)
        ingest.ingest_batch(hub_db, chain.edge_id,
                            [block_json(x) for x in blocks_with(chain, txs)], now_ms=now_ms)
    got = run_period_now(hub_db, key, loop, period, now_ms, now_ms, now_ms - 1)
    assert got["created"] and got["main_height"] == 0
    assert {r["id"]: r["allocation_mg"] for r in got["block"]["txs"][2]["tx"]["rows"]} == {
        "site-a/coal": 280_000, "site-a/home": 440_000, "site-b/gas": 0}
    assert run_period_now(hub_db, key, loop, period, now_ms, now_ms, 0)["created"] is False
    made = mainchain.make_main_block(hub_db, key, now_ms)
    assert made.header.height == 1 and made.header.prev == block_hash(got["block"]["header"])
    assert len(receipts.receipts_for(hub_db, a.edge_id)) == 1
    # blocks received before since_ms are not read
    earlier = period - PERIOD_S
    ingest.ingest_batch(hub_db, a.edge_id, [block_json(x) for x in blocks_with(
        a, [bid(*COAL[:5], earlier), bid(*HOME[:5], earlier)])], now_ms=now_ms)
    assert run_period_now(hub_db, key, loop, earlier, now_ms, now_ms, now_ms + 1)["block"] is None
    assert run_period_now(hub_db, key, loop, earlier, now_ms, now_ms, now_ms)["created"] is True
