"""The dashboard's SVG charts: well-formed XML, one <title> per point with its value, text escaped, gaps kept,
axes that reach the largest value."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ingest_api.charts import Series, bar_chart, format_number, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & \'quotes\''


def parse(markup) -> ET.Element:
    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG}svg"
    return root


def point_titles(root: ET.Element, shape: str) -> list[str]:
    """The hover text of every `shape` that has one (a legend's swatch has none)."""
    return [title.text for element in root.iter(f"{SVG}{shape}") if (title := element.find(f"{SVG}title")) is not None]


def texts(root: ET.Element) -> list[str]:
    return [element.text for element in root.iter(f"{SVG}text")]


def test_a_line_chart_has_a_dot_with_a_title_per_value_and_a_line_per_series():
    root = parse(line_chart(["07:00", "08:00", "09:00"], [Series("chess", [1, 4, 2]), Series("go", [0, 1, 3])],
                            title="Games per hour", y_label="games"))
    assert root.find(f"{SVG}title").text == "Games per hour"
    assert root.get("role") == "img"
    assert point_titles(root, "circle") == ["chess · 07:00: 1", "chess · 08:00: 4", "chess · 09:00: 2",
                                            "go · 07:00: 0", "go · 08:00: 1", "go · 09:00: 3"]
    assert len(list(root.iter(f"{SVG}polyline"))) == 2
    labels = texts(root)
    assert {"07:00", "08:00", "09:00", "games", "chess", "go", "0", "4"} <= set(labels)


def test_the_y_axis_reaches_the_largest_value_and_dots_stay_inside_the_plot():
    root = parse(line_chart(["a", "b"], [Series("s", [0, 37])], title="t", height=200))
    ys = [float(c.get("cy")) for c in root.iter(f"{SVG}circle")]
    assert "40" in texts(root)  # ticks 0, 10, 20, 30, 40
    assert all(0 <= y <= 200 for y in ys) and ys[0] > ys[1]  # 0 is lower on the page than 37


def test_a_missing_value_breaks_the_line_instead_of_drawing_a_zero():
    root = parse(line_chart(["d1", "d2", "d3", "d4"], [Series("D1", [0.5, None, 0.25, 0.5])], title="retention"))
    assert point_titles(root, "circle") == ["D1 · d1: 0.5", "D1 · d3: 0.25", "D1 · d4: 0.5"]
    segments = [p.get("points").split() for p in root.iter(f"{SVG}polyline")]
    assert [len(points) for points in segments] == [1, 2]


def test_a_bar_chart_has_a_bar_with_a_title_per_value_grouped_by_label():
    root = parse(bar_chart(["FounderAI", "BetaBuilder"], [Series("runs", [2, 1]), Series("files created", [4, 0])],
                           title="Agents"))
    assert point_titles(root, "rect") == ["runs · FounderAI: 2", "runs · BetaBuilder: 1",
                                               "files created · FounderAI: 4", "files created · BetaBuilder: 0"]
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    heights = [float(bar.get("height")) for bar in bars]
    assert heights[2] == max(heights) and heights[3] == 0
    assert heights[0] == pytest.approx(2 * heights[1], abs=0.2)


def test_every_text_is_escaped():
    markup = str(bar_chart([HOSTILE], [Series(HOSTILE, [1])], title=HOSTILE, y_label=HOSTILE))
    assert "<script>" not in markup
    root = parse(markup)
    assert root.find(f"{SVG}title").text == HOSTILE
    assert root.get("aria-label") == HOSTILE
    assert point_titles(root, "rect")[-1] == f"{HOSTILE} · {HOSTILE}: 1"
    assert HOSTILE in texts(root)
    line = parse(line_chart([HOSTILE], [Series(HOSTILE, [2]), Series("b", [1])], title=HOSTILE))
    assert point_titles(line, "circle")[0] == f"{HOSTILE} · {HOSTILE}: 2"


def test_a_label_too_long_for_its_room_is_cut_and_kept_whole_in_the_titles():
    long = "schema_mismatch_of_a_very_long_reason"
    root = parse(bar_chart([long, "b", "c", "d", "e", "f"], [Series("refused", [1, 2, 3, 4, 5, 6])], title="t"))
    shown = next(t for t in texts(root) if t.startswith("schema"))
    assert shown.endswith("…") and len(shown) < len(long)
    assert point_titles(root, "rect")[0] == f"refused · {long}: 1"


@pytest.mark.parametrize("chart", [line_chart, bar_chart])
def test_no_data_is_a_readable_empty_chart(chart):
    for labels, series in (([], []), (["a"], [Series("s", [None])])):
        root = parse(chart(labels, series, title="Nothing", empty="No data yet"))
        assert "No data yet" in texts(root)
        assert not list(root.iter(f"{SVG}circle")) and not list(root.iter(f"{SVG}polyline"))


@pytest.mark.parametrize("chart", [line_chart, bar_chart])
def test_all_zeros_and_a_single_point_draw_without_dividing_by_zero(chart):
    parse(chart(["only"], [Series("s", [0])], title="zeros"))
    parse(chart(["a", "b"], [Series("s", [0, 0])], title="zeros"))


def test_many_labels_are_thinned_to_stay_readable():
    labels = [f"{h:02d}:00" for h in range(48)]
    root = parse(line_chart(labels, [Series("s", list(range(48)))], title="t"))
    shown = [t for t in texts(root) if t in labels]
    assert 2 <= len(shown) <= 8 and shown[0] == "00:00"


def test_numbers_and_ticks():
    assert [format_number(v) for v in (1234567, 12.5, 0.1234, 0, 1234.56)] == [
        "1,234,567", "12.5", "0.123", "0", "1,235"]
    assert nice_ticks(37) == [0, 10, 20, 30, 40]
    assert [format_number(tick) for tick in nice_ticks(0.9)] == ["0", "0.5", "1"]
    assert nice_ticks(0) == [0.0, 1.0]
