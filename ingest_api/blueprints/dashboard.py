"""GET /dashboard: the page, public, a shell whose script brings the read key; GET /dashboard/panels: every panel
but the live counters as HTML with inline SVG charts, behind the read key."""

from __future__ import annotations

from flask import Blueprint, render_template

from ingest_api import dashboard
from ingest_api.auth import require_read_key
from ingest_api.blueprints.stats import stats_connection
from ingest_api.charts import format_number

bp = Blueprint("dashboard", __name__)

#: Scripts and styles only from the app's own files: an injected inline script or style runs nowhere.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HTML_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@bp.app_template_filter("number")
def number(value) -> str:
    return "–" if value is None else format_number(value)


@bp.app_template_filter("percent")
def percent(rate) -> str:
    return "–" if rate is None else f"{100 * rate:.1f} %"


@bp.app_template_filter("bytes")
def size(value) -> str:
    """1234567 -> 1.2 MB (decimal units, as disks are sold)."""
    if value is None:
        return "–"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


@bp.app_template_filter("age")
def age(seconds) -> str:
    """How long ago, in the largest whole unit."""
    if seconds is None:
        return "–"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{max(0, int(seconds))} s ago"


@bp.get("/dashboard")
def page():
    return render_template("dashboard.html"), 200, HTML_HEADERS


@bp.get("/dashboard/panels")
def panels():
    require_read_key()
    with stats_connection() as conn:
        data = dashboard.panels(conn)
    # the panels change with every pipeline run: the page asks again every 30 s
    return render_template("panels.html", **data), 200, {**HTML_HEADERS, "Cache-Control": "no-store"}
