"""The edge's own pages over real HTTP: the dashboard after a traded interval, API docs offline.

The edge service runs in-process with an injected clock and a loopback link
(no broker), its status server on a free loopback port; Chromium renders the
dashboard, /docs and /redoc with every host but loopback unresolvable, so a
page that needed a CDN would come out blank.
"""

from __future__ import annotations

import httpx
import pytest

from tests.edge.helpers import SITE, bid, telemetry, topic
from tests.kit.edge import loopback_edge, wait_until

KEYS = {"gw1": bytes([1]) * 32, "gw2": bytes([2]) * 32}
T = 1_800_000_000 - 1_800_000_000 % 900 + 900  # an interval start (s)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edge-pages")
    svc, wall, link = loopback_edge(tmp, SITE, KEYS, (T - 600) * 1000, blocks={"max_age_s": 1},
                                    status={"enabled": True, "host": "127.0.0.1", "port": 0})
    svc.start()
    t0 = wall()
    battery = {"dev": "b1", "kind": "battery", "q": "good", "ts": t0, "p_w": -800,
               "soc_pm": 612}
    energy = {"interval": T - 900, "imp_wh": 0, "exp_wh": 750, "chg_wh": 0, "dis_wh": 200}
    link.deliver(topic("gw1", "telemetry"),
                 telemetry("gw1", 1, t0, KEYS["gw1"], energy=energy,
                           readings=[{"dev": "m1", "kind": "meter", "q": "good", "ts": t0,
                                      "p_w": -3000, "e_imp_wh": 10, "e_exp_wh": 5000},
                                     battery]), t0)
    link.deliver(topic("gw1", "bid"), bid("gw1", 2, t0, KEYS["gw1"], T, "sell", 1000, 50_000), t0)
    link.deliver(topic("gw2", "bid"), bid("gw2", 1, t0, KEYS["gw2"], T, "buy", 600, 70_000), t0)
    wait_until(lambda: len(link.acked) == 3, what="messages acknowledged")
    wall.set((T - 60) * 1000)  # the gate closes: the interval clears
    wait_until(lambda: any(t.endswith("/result") for t, _, _ in link.published),
               what="the interval's result")
    wall.advance(2_000)
    wait_until(lambda: svc.store.height() >= 0 and svc.inbox.pending.stats()[0] == 0,
               what="every accepted message in a block")
    yield svc, f"http://127.0.0.1:{svc.status_port}"
    svc.stop()


def test_dashboard_shows_the_interval_with_units(edge):
    _, url = edge
    page = httpx.get(url + "/", timeout=10).text
    assert "Edge hub " + SITE in page
    assert "-3,000 W" in page and "SOC 61.2 %" in page and "export 5,000 Wh" in page
    # a buyers' market (1000 Wh offered, 600 wanted): the partly filled seller's ask sets
    # the price, 50,000 micro-currency per kWh, shown as 0.0500 per kWh; 600 Wh change hands
    assert "0.0500 /kWh" in page and "600 Wh" in page
    for chart in ("price", "volume", "energy", "soc", "heights"):
        assert f'id="chart-{chart}"' in page
    for chart in ("price", "energy", "soc", "heights"):       # these have data by now
        block = page.split(f'id="chart-{chart}"')[1].split("</div>")[0]
        assert 'class="chart empty"' not in block, chart
    assert "<script" not in page


def test_dashboard_and_api_docs_draw_offline(edge, browser):
    _, url = edge
    dash = browser.render(url + "/", width=1300, height=1800)
    assert dash.dom.count("<svg") >= 6 and dash.distinct_colours() > 40
    docs = browser.dom(url + "/docs", wait_ms=4000)
    assert "swagger-ui" in docs and "opblock" in docs     # the operations are drawn
    assert "/api/status" in docs
    redoc = browser.dom(url + "/redoc", wait_ms=6000)
    assert "/api/status" in redoc and "redoc-wrap" in redoc
