"""The edge dashboard: liveness by hand, units on readings, labelled times, charts drawn."""

import datetime as dt

from edge.web.dashboard import (
    DashboardView,
    GatewayView,
    liveness,
    reading_text,
    render_dashboard,
    wall_text,
)

NOW = 1718971200000  # 2024-06-21T12:00:00Z
UTC = dt.timezone.utc


def view() -> DashboardView:
    return DashboardView(
        site="north", edge_id="ab" * 32, wall_ms=NOW, market_ms=NOW, broker_connected=True,
        sync_state="ok", chain_height=12, anchored_height=10, pending_txs=3,
        gateways=[
            GatewayView("gw-1", NOW - 5_000, "online",
                        [{"dev": "m1", "kind": "meter", "q": "good", "p_w": -2500,
                          "e_imp_wh": 100, "e_exp_wh": 3000}]),
            GatewayView("gw-2", NOW - 300_000, "online",
                        [{"dev": "b1", "kind": "battery", "q": "good", "soc_pm": 655}]),
            GatewayView("gw-3", None, "unknown"),
        ],
        book=[{"interval": 1718971200, "order_no": 4, "participant": "gw-1", "side": "sell",
               "qty_wh": 1500, "price": 80_000, "status": "pending", "round": 0}],
        results=[{"interval": 1718970300, "round": 1, "final": True, "price": 95_000,
                  "volume_wh": 2000, "regime": "sellers"}],
        intervals=[(1718970300 + 900 * k, 90_000 + 1000 * k, 1000 * k) for k in range(4)],
        energy={"gw-1": [(1718970300 + 900 * k, 0, 500) for k in range(4)]},
        soc={"b1": [(NOW - 3_600_000 * k, 50.0 + k) for k in range(3)]},
        rejections={"bad_tag": 2, "gate_closed": 5},
        heights=[(NOW - 60_000 * k, 12 - k, 10 - k) for k in range(5)], tz=UTC)


def test_liveness_by_age():
    v = view()
    assert [liveness(g, NOW) for g in v.gateways] == ["online", "stale", "unknown"]
    assert liveness(GatewayView("x", NOW - 601_000, "online"), NOW) == "offline"
    assert liveness(GatewayView("x", NOW - 1_000, "offline"), NOW) == "offline"


def test_readings_carry_units_and_times_are_iso():
    assert reading_text({"dev": "m1", "kind": "meter", "q": "good", "p_w": -2500,
                         "e_imp_wh": 1234}) == "m1 (meter, good), -2,500 W, import 1,234 Wh"
    assert reading_text({"dev": "b", "kind": "battery", "q": "stale", "soc_pm": 655}) \
        == "b (battery, stale), SOC 65.5 %"
    assert wall_text(NOW, UTC) == "2024-06-21T12:00:00+00:00"
    assert wall_text(None) == "never"


def test_page_labels_market_and_wall_time_and_draws_every_chart():
    page = render_dashboard(view())
    assert 'http-equiv="refresh"' in page
    assert "wall 2024-06-21T12:00:00+00:00" in page and "market 2024-06-21 12:00 UTC" in page
    assert "gateways online 1/3" in page
    assert '<span class="stale">stale</span>' in page
    assert "0.0950 /kWh" in page and "1,500 Wh" in page
    for k in ("price", "volume", "energy", "soc", "heights", "rejections"):
        assert f'id="chart-{k}"' in page
    assert 'class="chart empty"' not in page
    assert "<script" not in page
    # nothing to fetch: the only URLs are the SVG namespace
    assert page.count("http://") == page.count("http://www.w3.org/2000/svg")


def test_dashboard_in_chromium(browser, tmp_path):
    p = tmp_path / "dash.html"
    p.write_text(render_dashboard(view()), encoding="utf-8")
    shot = browser.render(p.as_uri(), width=1300, height=1800)
    assert shot.dom.count("<svg") == 6
    assert shot.distinct_colours() > 50
