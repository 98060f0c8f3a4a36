"""The hub's page and API docs over real HTTP, after an edge pushed and the hub anchored."""

from __future__ import annotations

import httpx

from tests.kit.hub import EdgeChain, push


def test_page_shows_edges_anchoring_and_signals(hub_factory, browser):
    hub = hub_factory().start()
    chain = EdgeChain(chain="site-p")
    hub.register(chain.key, site="site-p")
    assert push(hub, chain.key, chain.extend(3)).status_code == 200
    hub.make_main_block()
    assert push(hub, chain.key, chain.extend(2)).status_code == 200     # 2 not yet anchored
    signal = {"site": "site-p", "valid_from": 1718971200, "valid_to": 1718972100, "p_low": 20,
              "p_high": 40, "intensity_g_kwh": 417, "adders": {}}
    assert hub.operator("POST", "/v1/prices", signal).status_code == 200
    page = httpx.get(hub.url + "/", timeout=10).text
    assert f"hub id {hub.hub_id}" in page
    name = f"edge-{chain.edge_id[:12]}"
    row = page.split(f"<td>{name}</td>")[1].split("</tr>")[0]
    # pushed heights 0..4, anchored 0..2: two behind
    assert "<td>4</td><td>2</td>" in row and "2 behind" in row
    assert "417 g/kWh" in page and "main chain height 0" in page and "no alarms" in page
    shot = browser.render(hub.url + "/", width=1300, height=1500)
    assert shot.dom.count("<svg") == 3 and shot.distinct_colours() > 30
    docs = browser.dom(hub.url + "/docs", wait_ms=4000)
    assert "swagger-ui" in docs and "opblock" in docs and "/v1/edges" in docs
    redoc = browser.dom(hub.url + "/redoc", wait_ms=6000)
    assert "redoc-wrap" in redoc and "/v1/edges" in redoc
