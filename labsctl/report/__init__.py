"""The fleet report for people and for monitoring: a static HTML page and OpenMetrics text,
both rendered from one `labsctl.fleet.FleetReport`."""

from labsctl.report.html import render_html
from labsctl.report.openmetrics import render_openmetrics

__all__ = ["render_html", "render_openmetrics"]
