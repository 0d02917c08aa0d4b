"""GET /dashboard (public, a shell with a strict CSP) and GET /dashboard/panels (behind the read key): the panels
show the marts' numbers as escaped HTML with well-formed inline SVG, and read well before the first dbt run."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import psycopg
import pytest

from ingest_api.blueprints.dashboard import CONTENT_SECURITY_POLICY
from ingest_api.charts import format_number
from tests.ingest_api.test_stats import READ, WRITE_KEY, build_marts, make_app

PANELS = ["panel-games", "panel-game-types", "panel-leaderboard", "panel-retention", "panel-agents",
          "panel-quality", "panel-pipeline"]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def marts_url(make_database):
    return build_marts(make_database())


@pytest.fixture(scope="module")
def http(marts_url):
    app = make_app(marts_url)
    yield app.test_client()
    app.extensions["monkeytown.ingest"].pool.close()


def panels_html(http) -> str:
    response = http.get("/dashboard/panels", headers=READ)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def section(html: str, panel_id: str) -> str:
    match = re.search(rf'<section class="panel[^"]*" id="{panel_id}".*?</section>', html, re.S)
    assert match, panel_id
    return match.group(0)


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", html, re.S)]


def test_the_page_is_public_with_a_csp_that_runs_no_inline_script(http):
    response = http.get("/dashboard")
    assert response.status_code == 200 and response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    html = response.get_data(as_text=True)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/dashboard.js" defer>']
    assert 'rel="stylesheet" href="/static/dashboard.css"' in html
    assert " style=" not in html
    for link in ("/data-docs/", "/dbt-docs/"):
        assert f'href="{link}"' in html
    for counter in ("events_last_minute", "events_last_hour", "games_started_last_hour", "games_in_progress",
                    "players_online"):
        assert f'data-counter="{counter}"' in html


@pytest.mark.parametrize("name", ["dashboard.js", "dashboard.css"])
def test_the_page_s_script_and_style_are_served_by_the_app(http, name):
    response = http.get(f"/static/{name}")
    assert response.status_code == 200 and len(response.data) > 500
    response.close()


def test_the_panels_need_a_read_key(http):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {WRITE_KEY}"}):
        response = http.get("/dashboard/panels", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"] == "unauthorized"


def test_every_panel_is_there_with_well_formed_charts(http):
    html = panels_html(http)
    for panel in PANELS:
        section(html, panel)
    charts = svgs(html)
    assert len(charts) == 9
    assert all(chart.find(f"{SVG}title").text for chart in charts)
    assert " style=" not in html and "<script" not in html


def test_the_panels_show_the_marts_numbers(http):
    html = panels_html(http)
    chess = re.search(r'<tr data-game-type="chess">(.*?)</tr>', section(html, "panel-game-types"), re.S).group(1)
    assert re.findall(r"<td>([^<]*)</td>", chess) == ["chess", "2", "2", "0", "90", "1"]
    leaders = section(html, "panel-leaderboard")
    assert re.search(r"<td>1</td><td class=\"id\">alice</td><td>1</td>\s*<td>2</td><td>50.0 %</td>", leaders)
    agents = re.search(r'<tr data-agent="FounderAI">(.*?)</tr>', section(html, "panel-agents"), re.S).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", agents) == ["FounderAI", "2", "1", "1", "4", "9"]
    cohort = section(html, "panel-retention")
    assert re.search(r"<td>2</td>\s*<td>50.0 %</td><td>50.0 %</td><td>–</td>", cohort)
    hover = [title.text for chart in svgs(section(html, "panel-games")) for title in chart.iter(f"{SVG}title")]
    assert any(text.startswith("chess · ") and text.endswith(": 2") for text in hover)  # today's two chess games


def test_the_leaderboard_shows_each_leader_s_best_rating_and_charts_their_rating_history(http, marts_url):
    with psycopg.connect(marts_url) as conn:
        best = conn.execute("SELECT player_id, best_rating, best_rating_game_type FROM marts.leaderboard"
                            " WHERE best_rating IS NOT NULL ORDER BY rank, player_id LIMIT 1").fetchone()
        history = conn.execute("SELECT games_rated, rating_after FROM marts.rating_history"
                               " WHERE player_id = %s AND game_type = %s ORDER BY games_rated", best[:1] + best[2:]
                               ).fetchall()
    assert history, "the marts of this module must rate a game for the chart to show"
    leaders = section(panels_html(http), "panel-leaderboard")
    assert f"<td>{format_number(best[1])} ({best[2]})</td>" in leaders
    chart = next(svg for svg in svgs(leaders) if "Elo rating" in svg.find(f"{SVG}title").text)
    hover = [title.text for title in chart.iter(f"{SVG}title")][1:]
    # one dot per rated game of the leader, in order, with the rating after it
    assert [text for text in hover if text.startswith(f"{best[0]} ({best[2]}) · ")] == [
        f"{best[0]} ({best[2]}) · {games}: {format_number(rating)}" for games, rating in history]


def test_pipeline_health_and_checks_come_from_the_monitoring_tables_escaped(http, marts_url):
    hostile = '<img src=x onerror="alert(1)">'
    with psycopg.connect(marts_url, autocommit=True) as conn:
        conn.execute("TRUNCATE monitoring.latest_checks, monitoring.latest_materializations, monitoring.recent_runs")
        conn.execute("INSERT INTO monitoring.latest_materializations VALUES (%s, now() - interval '3 hours', 'r')",
                     (hostile,))
        conn.execute("INSERT INTO monitoring.latest_checks VALUES ('raw_events', %s, false, 'ERROR', %s, now(), 'r')",
                     (hostile, hostile))
        conn.execute("INSERT INTO monitoring.recent_runs VALUES ('r', 'refresh_marts', 'SUCCESS', now(), now())")
    html = panels_html(http)
    assert "<img" not in html and "&lt;img src=x" in html
    pipeline = section(html, "panel-pipeline")
    assert "3 h ago" in pipeline and "refresh_marts" in pipeline and 'href="/dbt-docs/"' in pipeline
    quality = section(html, "panel-quality")
    assert '<tr class="failed"' in quality and 'href="/data-docs/"' in quality
    assert re.search(r"<strong>0</strong> of 1 checks passed; these did not:", quality)


def test_before_the_first_dbt_run_the_panels_say_so(make_database):
    app = make_app(make_database())
    try:
        html = panels_html(app.test_client())
    finally:
        app.extensions["monkeytown.ingest"].pool.close()
    for panel in PANELS:
        section(html, panel)
    assert "marts.leaderboard does not exist yet: the pipeline builds it on its first dbt run" in html
    assert "No check has run yet." in html and "No run yet." in html
    assert len(svgs(html)) == 8  # each chart an empty one that says so
    assert "No data yet" in html
