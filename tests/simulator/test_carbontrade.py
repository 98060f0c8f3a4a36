"""The simulator's carbon-market cycle on a hand-worked case: real evidence, real chains.

Evidence is built as the hub serves it (edge block with telemetry digests,
a link block and a main-chain receipt: tests/carbonmarket/meterkit.py); the
carbon chain, the electricity peg chain, the oracles and the relayer are the
real ones, on files of the test's own directory.

Hand-worked numbers (interval_s 900, period [900, 2700), delta 820 g/kWh):
- pvp-6: 5,000 + 7,250 Wh = 12,250 Wh -> 820 x 12.25 = 10,045 g, ask 50,000
- pvp-14: 1,000 Wh -> 820 g, ask 62,000 (a forged second reading is refused)
- pvp-18 has no PV meter: 3,000 Wh exported, 500 Wh of it from the battery ->
  2,500 Wh -> 2,050 g, ask 90,000 (above every bid: it sells nothing)
- cec-5 on bus 4: 10,000 Wh at ceil(400.2) = 401 g/kWh + 20,000 Wh at 390
  = 4,010 + 7,800 = 11,810 g; allowance 3,000 -> -8,810 g, bid 80,000
- cec-12 on bus 11: 2,000 Wh at 410 + 1,000 Wh untraced at the grid's 420
  = 820 + 420 = 1,240 g; allowance 2,000 -> +760 g, ask 60,000
Clearing: phase 1 cec-12 -> cec-5 760 g at (60,000 + 80,000) / 2 = 70,000 ->
53,200 micro; phase 2 pvp-6 -> cec-5 the remaining 8,050 g at 65,000 ->
523,250 micro. Locked on C 576,450 = minted and outstanding on E.
"""

from __future__ import annotations

import json

import pytest

from edge.chain.keys import generate_key, public_id
from hub.carbonmarket.twotree import CARBON, ELECTRICITY, TwoTreeChain
from simulator.carbontrade import (
    Participant,
    apply,
    carbon_cycle_core,
    participants_of,
    verified_readings,
)
from simulator.record import CarbonRow, RunRecord
from simulator.report import render_html
from simulator.scenario import load_scenario
from tests.carbonmarket.meterkit import evidence, telemetry

PARTS = [Participant("cec-5", "cec", 4, 80_000, 3_000, 60_000),
         Participant("cec-12", "cec", 11, 80_000, 2_000, 60_000),
         Participant("pvp-6", "pvp", 5, 50_000),
         Participant("pvp-14", "pvp", 13, 62_000),
         Participant("pvp-18", "pvp", 17, 90_000)]
ROWS = [CarbonRow(900_000, {4: 400.2, 11: 410.0}, 0.0, 0.0, 0.0),
        CarbonRow(1_800_000, {4: 390.0}, 0.0, 0.0, 0.0)]


def no_pv_meter(gw: str, seq: int, interval: int, exp_wh: int, dis_wh: int) -> str:
    """Telemetry of a gateway that meters its connection and battery, not its inverter:
    export is not generation, so it earns no quota."""
    msg = json.loads(telemetry(gw, seq, interval, 0))
    msg["energy"].update(exp_wh=exp_wh, dis_wh=dis_wh, gen_wh=0)
    return json.dumps(msg)


@pytest.fixture()
def cycle(tmp_path):
    edge_key, hub_key = generate_key(), generate_key()
    payloads = [telemetry("pvp-6", 1, 900, 5_000), telemetry("pvp-6", 2, 1_800, 7_250),
                telemetry("pvp-14", 1, 900, 1_000),
                telemetry("cec-5", 1, 900, 0, 10_000), telemetry("cec-5", 2, 1_800, 0, 20_000),
                telemetry("cec-12", 1, 900, 0, 2_000), telemetry("cec-12", 2, 1_800, 0, 1_000),
                no_pv_meter("pvp-18", 1, 900, exp_wh=3_000, dis_wh=500)]
    docs = evidence(payloads, edge_key, hub_key)
    forged = dict(docs[2], payload=docs[2]["payload"].replace("1000", "9999"))
    readings, refused = verified_readings(docs + [forged], public_id(hub_key.public_key()),
                                          [public_id(edge_key.public_key())])
    res = carbon_cycle_core(PARTS, readings, ROWS, 900, 2_700, 900, 820, 420,
                            tmp_path / "carbon", now_ms=2_700_000, refused=refused)
    return res, tmp_path


def test_quotas_and_positions_are_the_hand_worked_ones(cycle):
    res, _ = cycle
    acc = {a.participant: a for a in res.accounts}
    assert (acc["pvp-6"].basis_wh, acc["pvp-6"].verified_g) == (12_250, 10_045)
    assert acc["pvp-14"].verified_g == 820
    # no PV meter: 3,000 Wh exported is no metered generation -> 0 g
    assert (acc["pvp-18"].basis_wh, acc["pvp-18"].verified_g) == (0, 0)
    assert (acc["cec-5"].emissions_g, acc["cec-5"].verified_g, acc["cec-5"].price) == \
        (11_810, -8_810, 80_000)
    assert (acc["cec-12"].emissions_g, acc["cec-12"].verified_g, acc["cec-12"].price) == \
        (1_240, 760, 60_000)
    assert res.refused_evidence == {"bad_evidence": 1}


def test_trades_cross_the_peg_once_and_the_books_balance(cycle):
    res, tmp = cycle
    got = [(t.seller, t.buyer, t.qty_g, t.price, t.turnover_micro, t.phase, t.minted)
           for t in res.trades]
    assert got == [("cec-12", "cec-5", 760, 70_000, 53_200, 1, True),
                   ("pvp-6", "cec-5", 8_050, 65_000, 523_250, 2, True)]
    b = res.balance
    assert b["ok"] and (b["locked_c"], b["released_c"], b["outstanding_e"], b["spent_e"],
                        b["to_mint"]) == (576_450, 0, 576_450, 0, 0)
    assert res.second_pass_mints == 0 and res.books_ok
    for name, layout in (("carbon.db", CARBON), ("electricity-peg.db", ELECTRICITY)):
        chain = TwoTreeChain(tmp / "carbon" / name, layout, name.split(".")[0])
        try:
            assert chain.verify().ok
        finally:
            chain.close()


def test_the_record_gets_rows_and_the_peg_invariant(cycle):
    res, tmp = cycle
    rec = RunRecord("t", 1, 2, 0)
    apply(rec, res, tmp)
    assert [i.name for i in rec.invariants] == ["peg books balance, no asset on both chains"]
    assert rec.ok and len(rec.carbon_trades) == 2
    assert rec.files["carbon chain"] == "carbon/carbon.db"
    json.dumps(rec.to_json())  # the record stays plain data
    page = render_html(rec)
    assert "<h2>Carbon market</h2>" in page and "<td>cec-12</td><td>cec-5</td>" in page
    assert "<td>523250</td>" in page and "not\ncounted): bad_evidence 1." in page


def test_a_shortened_day_gets_its_share_of_the_daily_allowance():
    sc = load_scenario("ieee33-pv").shortened(intervals=8)
    assert sc.carbon_market.enabled
    cecs = {p.gw: p.allowance_g for p in participants_of(sc) if p.role == "cec"}
    # 8 intervals of 900 s are 1/12 of a day
    assert cecs == {g: sc.carbon_market.cec_allowance.get(g, sc.carbon_market.cec_allowance_g)
                    // 12 for g in cecs}


def test_the_book_takes_the_carbon_bids_found_on_the_chain(tmp_path):
    """Prices from carbon bids on an edge chain (hub.carbonmarket.carbonbids), by hand.

    Same meters as above. Bids: pvp-6 sells at 55,000; cec-5 buys at 80,000;
    cec-12 (long, +760 g) sent a buy: no order; pvp-14 sent nothing: no order;
    pvp-18 sells at 90,000 (above the only bid). Phase 1 has no CEC seller;
    phase 2: pvp-6 -> cec-5 8,810 g at (55,000 + 80,000) / 2 = 67,500 ->
    8,810 x 67,500 / 1000 = 594,675 micro.
    """
    from edge.protocol.auth import add_tag
    from edge.protocol.canonical import canonical
    from hub.carbonmarket.carbonbids import carbon_bids

    edge_key, hub_key = generate_key(), generate_key()
    payloads = [telemetry("pvp-6", 1, 900, 5_000), telemetry("pvp-6", 2, 1_800, 7_250),
                telemetry("pvp-14", 1, 900, 1_000),
                telemetry("cec-5", 1, 900, 0, 10_000), telemetry("cec-5", 2, 1_800, 0, 20_000),
                telemetry("cec-12", 1, 900, 0, 2_000), telemetry("cec-12", 2, 1_800, 0, 1_000),
                no_pv_meter("pvp-18", 1, 900, exp_wh=3_000, dis_wh=500)]
    readings, _ = verified_readings(evidence(payloads, edge_key, hub_key),
                                    public_id(hub_key.public_key()),
                                    [public_id(edge_key.public_key())])

    def leaf(gw: str, side: str, price: int) -> bytes:
        return canonical(add_tag({"v": 1, "type": "carbon_bid", "site": "north", "gw": gw,
                                  "seq": 3, "ts": 1_000_000, "side": side, "price": price,
                                  "valid_from": 900, "valid_to": 1_800}, bytes(32)))

    leaves = [leaf("pvp-6", "sell", 55_000), leaf("cec-5", "buy", 80_000),
              leaf("cec-12", "buy", 61_000), leaf("pvp-18", "sell", 90_000)]
    book = carbon_bids([("e", 1, i, x) for i, x in enumerate(leaves)], "north", 900, 2_700)
    res = carbon_cycle_core(PARTS, readings, ROWS, 900, 2_700, 900, 820, 420,
                            tmp_path / "carbon", now_ms=2_700_000, book=book.by_gw,
                            book_refused=book.refused)
    assert [(t.seller, t.buyer, t.qty_g, t.price, t.turnover_micro, t.phase)
            for t in res.trades] == [("pvp-6", "cec-5", 8_810, 67_500, 594_675, 2)]
    assert res.book_refused == {"no_carbon_bid": 2}
    assert res.books_ok
