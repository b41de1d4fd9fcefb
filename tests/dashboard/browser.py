"""Headless Chromium for the dashboard and report tests (Debian's, driven by Playwright), and the
dashboard's server as `lakehouse dashboard` starts it (also used by bench/dashboard.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def browser_or_skip() -> None:
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (apt-get install chromium): the dashboard is not tested"
        if os.environ.get("LAKEHOUSE_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


# Per chart on the page, Plotly's and Vega-Lite's (the Overview's, drawn as SVG): its title, the data
# points (Plotly's computed points; Vega's bars and symbols) and the marks drawn.
CHART_POINTS = """() => [
  ...[...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    title: gd.layout && gd.layout.title ? (gd.layout.title.text || '') : '',
    points: (gd.calcdata || []).reduce((n, trace) => n + trace.length, 0),
    drawn: gd.querySelectorAll('.trace path, .trace .point, .bars path, .heatmaplayer image, .funnellayer path').length,
  })),
  ...[...document.querySelectorAll('[data-testid="stVegaLiteChart"] svg.marks')].map(svg => ({
    title: [...svg.querySelectorAll('.role-title-text')].map(t => t.textContent).join(' '),
    points: svg.querySelectorAll('.mark-rect path, .mark-symbol path').length,
    drawn: svg.querySelectorAll('.mark-rect path, .mark-symbol path, .mark-line path').length,
  })),
]"""
CHART_DRAWN = f"() => ({CHART_POINTS})().some(c => c.points > 0 && c.drawn > 0)"
SCRIPT_DONE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"  # no 'Running' indicator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dashboard:
    def __init__(self, root: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [str(BIN / "lakehouse"), "dashboard", "--root", str(root), "--port", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise AssertionError(f"the dashboard did not start: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def settle(page: object, charts: bool = True) -> None:
    """Wait until the script run is over: the page's charts drawn and no 'Running' indicator."""
    page.wait_for_selector("h1", timeout=60_000)  # type: ignore[attr-defined]
    if charts:
        page.wait_for_selector(  # type: ignore[attr-defined]
            '[data-testid="stPlotlyChart"] .main-svg, [data-testid="stVegaLiteChart"] svg.marks',
            timeout=60_000,
        )
    page.wait_for_function(SCRIPT_DONE, timeout=60_000, polling=200)  # type: ignore[attr-defined]
    page.wait_for_timeout(500)  # type: ignore[attr-defined]


def serving(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A dashboard server over `root` for a module's tests (the body of their fixture)."""
    browser_or_skip()
    d = Dashboard(root, tmp_path_factory.mktemp("dashboard") / "streamlit.log")
    yield d
    d.stop()
