"""The SVG charts: well-formed, escaped, honest about empty data, ticks a person can read."""

import xml.etree.ElementTree as ET

from edge.web.charts import Axis, Series, bar_chart, empty_chart, fmt, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def test_nice_ticks_by_hand():
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert [round(t, 6) for t in nice_ticks(0, 0.9)] == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-3, 7) == [-4, -2, 0, 2, 4, 6, 8]
    assert nice_ticks(5, 5) == [5, 5.2, 5.4, 5.6, 5.8, 6]


def test_fmt_short_labels():
    assert fmt(12_500) == "12.5k"
    assert fmt(3_400_000) == "3.4M"
    assert fmt(7) == "7"
    assert fmt(0.25) == "0.25"


def test_line_chart_is_well_formed_svg_with_one_path_per_series():
    svg = line_chart("Price <&> volume", [Series("a", [0, 1, 2], [1, 2, 3]),
                                          Series("b", [0, 1, 2], [3, 2, 1], step=True)],
                     Axis("interval"), Axis("price", "µ/kWh"), {0: "00:00", 1: "00:15", 2: "00:30"})
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    assert len(root.findall(f"{SVG}path")) == 2
    assert len(root.findall(f"{SVG}circle")) == 6
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Price <&> volume" in texts            # escaped in the source, intact once parsed
    assert "price (µ/kWh)" in texts and "00:15" in texts
    # a step series moves horizontally then vertically
    step = root.findall(f"{SVG}path")[1].get("d")
    assert "H" in step and "V" in step


def test_points_map_inside_the_plot_area():
    svg = line_chart("t", [Series("a", [10, 20], [0, 100])], Axis("x"), Axis("y"))
    cs = ET.fromstring(svg).findall(f"{SVG}circle")
    xs = [float(c.get("cx")) for c in cs]
    ys = [float(c.get("cy")) for c in cs]
    assert xs[0] == 64.0 and xs[1] == 640 - 16          # left and right edges of the plot
    assert ys[0] == 240 - 40 and ys[1] == 28.0          # y=0 at the bottom, y=100 on top


def test_empty_and_non_finite_data_say_so():
    for svg in (line_chart("t", [], Axis("x"), Axis("y")),
                line_chart("t", [Series("a", [0.0], [float("nan")])], Axis("x"), Axis("y")),
                bar_chart("t", [], Axis("n"))):
        root = ET.fromstring(svg)
        assert "empty" in root.get("class")
    assert "no data yet" in empty_chart("x")


def test_bar_chart_one_rect_per_bar_heights_proportional():
    svg = bar_chart("Rejections", [("bad_tag", 2), ("replay", 4)], Axis("messages"))
    rects = [r for r in ET.fromstring(svg).findall(f"{SVG}rect") if r.get("class") == "bar"]
    assert len(rects) == 2
    h = [float(r.get("height")) for r in rects]
    assert abs(h[1] / h[0] - 2.0) < 0.01


def test_charts_are_drawn_in_a_real_browser(browser, tmp_path):
    page = tmp_path / "charts.html"
    page.write_text("<!doctype html><html><body>"
                    + line_chart("Clearing price", [Series("price", [0, 1, 2, 3], [3, 4, 2, 5])],
                                 Axis("interval"), Axis("price", "µ/kWh"))
                    + bar_chart("Rejections", [("bad_tag", 3), ("replay", 9)], Axis("messages"))
                    + "</body></html>", encoding="utf-8")
    shot = browser.render(page.as_uri(), width=800, height=700)
    assert shot.dom.count("<svg") == 2 and 'class="bar"' in shot.dom
    assert shot.distinct_colours() > 20      # lines, bars, text: not a blank page


def test_heatmap_cells_and_colour_scale():
    from edge.web.charts import heatmap

    svg = heatmap("Intensity", ["bus 1", "bus 2"], ["00:00", "00:15", "00:30"],
                  [[0, 50, 100], [100, 100, float("nan")]], "g/kWh")
    cells = [r for r in ET.fromstring(svg).iter(f"{SVG}rect") if r.get("class") == "cell"]
    assert len(cells) == 5                       # the NaN cell is left out
    assert cells[0].get("fill") == "rgb(255,255,255)"   # lowest is white
    assert cells[2].get("fill") == "rgb(255,38,0)"      # highest is dark red
    assert "bus 2, 00:15: 100 g/kWh" in svg
