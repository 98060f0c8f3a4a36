"""The hub's operator page: edges with their lag, alarms shouted, signals, charts drawn."""

import datetime as dt

from hub.service.dashboard import EdgeRow, HubView, render_hub_page

T = 1718971200000
UTC = dt.timezone.utc


def view(alarms=()) -> HubView:
    return HubView(
        hub_id="cd" * 32, wall_ms=T, tz=UTC,
        edges=[EdgeRow("north", "ab" * 32, "north", "registered", 12, 12, T - 1000),
               EdgeRow("south", "ef" * 32, "south", "registered", 9, 6, T - 5000),
               EdgeRow("west", "01" * 32, None, "registered", -1, -1)],
        main_blocks=[(h, T - 60_000 * (5 - h), 2) for h in range(6)],
        alarms=list(alarms),
        prices=[{"site": "north", "valid_from": 1718970300 + 900 * k, "valid_to":
                 1718971200 + 900 * k, "intensity_g_kwh": 400 + k, "adders": {"gw-1": 10}}
                for k in range(3)])


def test_edges_lag_and_latest_signal():
    page = render_hub_page(view())
    assert '<span class="ok">anchored</span>' in page          # north: 12 of 12
    assert '<span class="bad">3 behind</span>' in page         # south: 9 pushed, 6 anchored
    assert "main chain height 5" in page and "no alarms" in page
    assert "402 g/kWh" in page and "401 g/kWh" not in page     # only each site's latest
    for k in ("edges", "main", "intensity"):
        assert f'id="chart-{k}"' in page
    assert "<script" not in page


def test_alarms_are_listed_and_counted():
    page = render_hub_page(view([("equivocation", "edge south signed two blocks at 7", T)]))
    assert '<span class="bad">1 alarms</span>' in page
    assert "edge south signed two blocks at 7" in page


def test_hub_page_in_chromium(browser, tmp_path):
    p = tmp_path / "hub.html"
    p.write_text(render_hub_page(view()), encoding="utf-8")
    shot = browser.render(p.as_uri(), width=1300, height=1600)
    assert shot.dom.count("<svg") == 3 and shot.distinct_colours() > 40
