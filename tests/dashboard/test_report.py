"""`lakehouse report`: one HTML file that renders its charts in Chromium with the network off."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lakehouse.dashboard.report import build_report
from lakehouse.tables import GOLD, SILVER
from tests.bronze.audit import Bronze
from tests.dashboard.browser import CHART_POINTS

BIN = Path(sys.executable).parent


def test_the_report_renders_offline_with_every_table_scored(
    published: Bronze, browser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.html"
    done = subprocess.run([str(BIN / "lakehouse"), "report", "--root", str(published.root), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    context = browser.new_context(offline=True)
    requested: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            requested.append(route.request.url),
            route.continue_() if route.request.url.startswith("file:") else route.abort(),
        ),
    )
    page = context.new_page()
    page.goto(out.as_uri())
    page.wait_for_function(
        f"() => ({CHART_POINTS})().length >= 2 && ({CHART_POINTS})().every(c => c.points > 0 && c.drawn > 0)",
        timeout=30_000,
    )
    assert [u for u in requested if not u.startswith("file:")] == [], "the report fetched something"
    text = page.inner_text("body")
    assert "Overview" in text and "Data quality" in text and "Last runs" in text
    scored = page.locator("table").nth(1).locator("tbody tr").count()
    assert scored == len(SILVER) + len(GOLD), "one scorecard row per silver and gold table"
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    context.close()


def test_a_report_on_an_empty_lake_says_what_to_run(tmp_path: Path) -> None:
    html = build_report(str(tmp_path))
    assert html.count("not built yet") == 3 and "lakehouse run all --root" in html
