"""Headless Chromium for the dashboard and report tests: Debian's, driven by Playwright."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def browser_or_skip() -> None:
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (apt-get install chromium): the dashboard is not tested"
        if os.environ.get("LAKEHOUSE_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


# Per Plotly chart on the page: its title, the points Plotly computed, and the marks it drew.
CHART_POINTS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    title: gd.layout && gd.layout.title ? (gd.layout.title.text || '') : '',
    points: (gd.calcdata || []).reduce((n, trace) => n + trace.length, 0),
    drawn: gd.querySelectorAll('.trace path, .trace .point, .bars path, .heatmaplayer image, .funnellayer path').length,
}))"""
