"""Quotas from metered, anchored generation and positions from traced emissions, by hand."""

from __future__ import annotations

import copy

import pandapower as pp
import pytest

from edge.chain.keys import generate_key, public_id
from edge.market.certificates import CERTIFICATE_WH, Certificate
from hub.carbonmarket.errors import Reason, Refused
from hub.carbonmarket.quota import (
    QuotaConfig,
    accounting_entry,
    cec_position,
    certified_wh,
    emissions_g,
    pvp_quota,
    quota_basis,
    traced_bus_intensities,
    verify_meter_evidence,
)

from .meterkit import evidence, telemetry

YEAR = (1_000, 1_000 + 365 * 86_400)


@pytest.fixture
def keys():
    return generate_key(), generate_key()


def readings(docs, hub_key, edges=None):
    return [verify_meter_evidence(d, public_id(hub_key.public_key()), edges) for d in docs]


def test_quota_is_delta_times_metered_generation_each_interval_once(keys):
    edge_key, hub_key = keys
    docs = evidence([telemetry("pvp-6", 1, 1_000, 5_000),
                     telemetry("pvp-6", 2, 1_900, 7_250),
                     telemetry("pvp-6", 3, 1_000, 5_000),        # the same interval again
                     telemetry("pvp-6", 4, YEAR[1], 99_999),      # after the year
                     telemetry("pvp-14", 1, 1_900, 4_000)], edge_key, hub_key)
    rs = readings(docs, hub_key, [public_id(edge_key.public_key())])
    q = pvp_quota(rs, "pvp-6", *YEAR, QuotaConfig(820, "test factor"))
    assert (q.intervals, q.gen_wh, q.eligible_wh) == (2, 12_250, 12_250)
    assert q.quota_g == 10_045  # 820 g/kWh x 12.25 kWh
    q = pvp_quota(rs, "pvp-6", *YEAR, QuotaConfig(581, "test factor"))
    assert q.quota_g == 7_117  # 581 x 12.25 = 7,117.25, rounded down


def test_certified_generation_is_not_counted_again(keys):
    edge_key, hub_key = keys
    cert = Certificate("feeder-33-0000000001", "pvp-6", 1_000).as_tx()
    docs = evidence([telemetry("pvp-6", 1, 1_000, 1_250_000)], edge_key, hub_key, [cert])
    txs = [d["proof"]["tx"] for d in docs] + [cert]
    done = certified_wh(txs, "pvp-6", *YEAR)
    assert done == CERTIFICATE_WH
    q = pvp_quota(readings(docs, hub_key), "pvp-6", *YEAR, QuotaConfig(820, "x"), done)
    assert (q.gen_wh, q.certified_wh, q.eligible_wh, q.quota_g) == \
        (1_250_000, 1_000_000, 250_000, 205_000)
    with pytest.raises(ValueError, match="certified"):
        pvp_quota(readings(docs, hub_key), "pvp-6", *YEAR, QuotaConfig(820, "x"), 2_000_000)


@pytest.mark.parametrize("tamper,message", [
    (lambda d: d.update(payload=d["payload"].replace("5000", "50000")), "not the message"),
    (lambda d: d["proof"].update(anchor=None), "not yet committed"),
    (lambda d: d["proof"].update(index=1), "inclusion proof"),
    (lambda d: d["proof"]["tx"].update(type="bid"), "inclusion proof"),
    (lambda d: d.pop("payload"), "payload string"),
])
def test_evidence_that_does_not_hold_is_refused(keys, tamper, message):
    edge_key, hub_key = keys
    docs = evidence([telemetry("pvp-6", 1, 1_000, 5_000), telemetry("pvp-6", 2, 1_900, 1)],
                    edge_key, hub_key)
    bad = copy.deepcopy(docs[0])
    tamper(bad)
    with pytest.raises(Refused, match=message) as exc:
        verify_meter_evidence(bad, public_id(hub_key.public_key()))
    assert exc.value.reason is Reason.BAD_EVIDENCE
    verify_meter_evidence(docs[0], public_id(hub_key.public_key()))  # the original still holds


def test_evidence_from_an_unregistered_edge_or_another_hub_is_refused(keys):
    edge_key, hub_key = keys
    docs = evidence([telemetry("pvp-6", 1, 1_000, 5_000)], edge_key, hub_key)
    with pytest.raises(Refused, match="not a registered edge"):
        verify_meter_evidence(docs[0], public_id(hub_key.public_key()), ["ff" * 32])
    with pytest.raises(Refused, match="pinned hub"):
        verify_meter_evidence(docs[0], public_id(generate_key().public_key()))


def test_two_readings_of_one_interval_that_disagree_are_refused(keys):
    edge_key, hub_key = keys
    docs = evidence([telemetry("pvp-6", 1, 1_000, 5_000), telemetry("pvp-6", 2, 1_000, 5_001)],
                    edge_key, hub_key)
    with pytest.raises(Refused) as exc:
        pvp_quota(readings(docs, hub_key), "pvp-6", *YEAR, QuotaConfig())
    assert exc.value.reason is Reason.CONFLICTING_READING


def test_delta_comes_with_its_source():
    assert "820" in QuotaConfig().delta_source
    with pytest.raises(ValueError, match="source"):
        QuotaConfig(500, " ")
    with pytest.raises(ValueError, match="delta"):
        QuotaConfig(-1, "x")
    with pytest.raises(ValueError, match="unknown"):
        QuotaConfig.from_mapping({"delta": 1})


def radial_feeder():
    """One grid source (0.9 t/MWh) feeding buses 1 and 2 in a line: every bus has 900 g/kWh."""
    net = pp.create_empty_network()
    b = [pp.create_bus(net, vn_kv=20.0) for _ in range(3)]
    pp.create_ext_grid(net, b[0])
    for i in range(2):
        pp.create_line(net, b[i], b[i + 1], length_km=1.0, std_type="NA2XS2Y 1x95 RM/25 12/20 kV")
    pp.create_load(net, b[1], p_mw=0.5)
    pp.create_load(net, b[2], p_mw=0.8)
    return net


def test_position_from_the_tracer_intensity_of_the_bus():
    snaps = [{"ext_grids": {"0": {"t_per_mwh": 0.9}}},
             {"ext_grids": {"0": {"t_per_mwh": 0.9}}, "loads": {"1": {"p_mw": 0.3}}}]
    intensity = traced_bus_intensities(radial_feeder(), snaps, [2])
    assert intensity == {2: [900, 900]}  # one source: its intensity everywhere
    e = emissions_g([1_500, 2_333], intensity[2])
    assert e == 3_450  # (1.5 + 2.333) kWh x 900 = 3,449.7 g, rounded up
    pos = cec_position("cec-12", 3_000, e)
    assert pos.position_g == -450  # over its benchmark: a buyer
    assert cec_position("cec-22", 4_000, e).position_g == 550


def test_emissions_need_a_traced_intensity_for_metered_energy():
    assert emissions_g([0, 1_000], [None, 400]) == 400
    with pytest.raises(ValueError, match="no traced flow"):
        emissions_g([5, 1_000], [None, 400])
    with pytest.raises(ValueError, match="consumption"):
        emissions_g([1], [1, 2])


def test_accounting_entry_keeps_the_estimate_beside_the_verified_value(keys):
    edge_key, hub_key = keys
    docs = evidence([telemetry("pvp-6", 1, 1_000, 5_000)], edge_key, hub_key)
    q = pvp_quota(readings(docs, hub_key), "pvp-6", *YEAR, QuotaConfig(820, "src"))
    entry = accounting_entry("pvp-6", "pvp", *YEAR, 9_999, q.quota_g, quota_basis(q, docs))
    assert entry["estimate_g"] == 9_999 and entry["verified_g"] == 4_100
    assert entry["basis"]["delta_source"] == "src" and len(entry["basis"]["evidence_sha256"]) == 64
    with pytest.raises(ValueError, match="float"):
        accounting_entry("x", "cec", *YEAR, 1, 1, {"f": 0.5})
