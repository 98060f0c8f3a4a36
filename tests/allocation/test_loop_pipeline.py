"""The allocation loop's pure parts: regional reports, refusals, determinism, the loop's file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.period.config import LoopConfigError, load_loop_file
from hub.period.pipeline import LoopConfig, PeriodError, run_period
from hub.period.records import RegionalReport, ReportEntity, parse_record
from hub.period.reports import Grouping, PushedTx, collect
from hub.period.supervisors import NodeStats, epoch_record

P = 1_717_243_200
EDGE = "ab" * 32


def bid(site, gw, side, qty, price, interval=P, seq=1, rnd=0, **extra):
    return {"v": 1, "type": "bid", "site": site, "gw": gw, "seq": seq, "ts": 1, "tag": EDGE,
            "interval": interval, "side": side, "qty_wh": qty, "price": price, "round": rnd,
            **extra}


def pushed(*txs, site="s1"):
    return [PushedTx(EDGE, 7, site, t) for t in txs]


def test_reports_keep_the_last_quote_group_sites_and_count_what_they_skip():
    txs = pushed(
        bid("s1", "g1", "sell", 100, 50, seq=5, rnd=0),
        bid("s1", "g1", "sell", 200, 40, seq=2, rnd=1),   # a later round beats a higher seq
        bid("s1", "g1", "sell", 300, 30, seq=1, rnd=1),   # same round, lower seq: older
        bid("s1", "l1", "buy", 150, 90),
        bid("s1", "x", "buy", 1, 1, interval=P + 900),      # another period: not read
        bid("s2", "spoof", "sell", 1, 1),                  # not the edge's site
        bid("s1", "bad", "sell", 0, 1),                    # qty 0: the Bid model refuses it
        bid("s1", "bad2", "sell", 1, 1, extra_field=1),    # unknown field: refused
        {"type": "telemetry_digest"}, "not an object",
    ) + pushed(bid("s3", "g3", "sell", 10, 10), site="s3")
    grouping = Grouping({"s1": "north", "s3": "north"}, {"s1/g1": 900, "s3": 400}, 7)
    reports, skipped = collect(txs, P, grouping)
    assert skipped == {"site_mismatch": 1, "bad_bid": 2}
    assert [r.region for r in reports] == ["north"]
    got = [(e.id, e.side, e.qmax_wh, e.price, e.intensity_g_kwh) for e in reports[0].entities]
    assert got == [("s1/g1", "sell", 200, 40, 900), ("s1/l1", "buy", 150, 90, 0),
                   ("s3/g3", "sell", 10, 10, 400)]


def _report(region, *ents):
    return RegionalReport(period=P, region=region, entities=[
        ReportEntity(id=f"{region}/{gw}", site=region, gw=gw, side=side, qmax_wh=q, price=p,
                     intensity_g_kwh=e, edge=EDGE, height=0) for gw, side, q, p, e in ents])


def test_a_period_past_the_entity_limit_or_the_price_bound_is_refused():
    reps = [_report("a", ("g", "sell", 100, 10, 900), ("l", "buy", 100, 50, 0)),
            _report("b", ("h", "sell", 100, 20, 100))]
    with pytest.raises(PeriodError, match="3 entities; at most 2"):
        run_period(P, reps, LoopConfig(max_entities=2))
    # an offer one below the bound plus any positive adder passes it
    reps[0] = _report("a", ("g", "sell", 100, 2**31 - 2, 900), ("l", "buy", 100, 2**31 - 1, 0))
    with pytest.raises(PeriodError, match="exceeds 2\\^31-1"):
        run_period(P, reps, LoopConfig())
    assert run_period(P, [_report("a")], LoopConfig()) is None


def test_a_sampled_period_gives_the_same_numbers_when_run_again():
    # two regions of 16 entities: 2 * 2 * 2^16 coalitions is past the exact limit
    a = [(f"g{i}", "sell", 100 + i, 10 + i, 100 * (i % 5)) for i in range(8)] + \
        [(f"l{i}", "buy", 120, 60 - i, 0) for i in range(8)]
    b = [(f"g{i}", "sell", 90 + i, 12 + i, 50 * (i % 7)) for i in range(8)] + \
        [(f"l{i}", "buy", 80, 55 - i, 0) for i in range(8)]
    reps = [_report("a", *a), _report("b", *b)]
    one = run_period(P, reps, LoopConfig(rounds=4))
    two = run_period(P, reps, LoopConfig(rounds=4))
    assert one.txs() == two.txs()
    alloc = one.txs()[2]
    assert alloc["method"] == "sampled" and alloc["seed"] == P and alloc["rounds"] == 4
    # efficiency survives sampling (each round's estimates sum to v(N)); rounding: 1 mg each
    assert abs(sum(r["allocation_mg"] for r in alloc["rows"]) - alloc["total_mg"]) <= 32
    for tx in one.txs():
        assert parse_record(tx).tx() == tx


def test_epoch_record_with_fewer_nodes_than_s_and_without_nodes():
    assert epoch_record(0, 60, [], 3, 1000) is None
    rec = epoch_record(0, 60, [NodeStats("cd" * 32, 2, 4, 0, 0)], 3, 1000)
    assert rec.supervisors == ["cd" * 32] and rec.s == 3
    assert rec.nodes[0].p_ppb == 2_000_000_000  # W = 1, log2(4) = 2


def test_the_loop_file_is_checked_field_by_field(tmp_path):
    assert load_loop_file(None).period_s == 900
    f = tmp_path / "loop.json"
    for body, where in (({"period_s": 30}, "period_s"), ({"p_low": 1.5}, "p_low"),
                        ({"regions": {"bad site!": "x"}}, "regions"),
                        ({"trace": {"network": "case9", "buses": {}}}, "trace.buses"),
                        ({"scoring": {"s": 0}}, "scoring.s"), ({"nope": 1}, "nope")):
        f.write_text(json.dumps(body))
        with pytest.raises(LoopConfigError, match=where):
            load_loop_file(f)
    f.write_text("{")
    with pytest.raises(LoopConfigError, match="allocation config"):
        load_loop_file(f)
    with pytest.raises(LoopConfigError):
        load_loop_file(tmp_path / "missing.json")
    with pytest.raises(LoopConfigError, match="more than"):
        load_loop_file(Path("/dev/zero"))  # read up to the bound, never to the end
    f.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(LoopConfigError):
        load_loop_file(f)
