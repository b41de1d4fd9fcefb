"""`lakehouse report`: one HTML file that renders its charts in Chromium with the network off; and
the lake's Data Docs site, which does too."""

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
    context, requested, _ = _offline(browser)
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


def _offline(browser):  # type: ignore[no-untyped-def]
    """A browser context that can open local files only; what the page asked for, and what failed."""
    context = browser.new_context(offline=True)
    requested: list[str] = []
    failed: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            requested.append(route.request.url),
            route.continue_() if route.request.url.startswith("file:") else route.abort(),
        ),
    )
    context.on("requestfailed", lambda request: failed.append(request.url))
    return context, requested, failed


def test_the_data_docs_render_offline_with_both_jobs_runs(published: Bronze, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    index = published.root / "dq" / "data_docs" / "index.html"
    context, requested, failed = _offline(browser)
    page = context.new_page()
    page.goto(index.as_uri())
    text = page.inner_text("body")
    assert "bronze_to_silver test-run-1" in text and "silver_to_gold gold-1" in text
    page.screenshot(path=str(tmp_path / "data_docs_index.png"), full_page=True)
    results = page.locator("tr", has_text="gold.fact_orders").first.get_by_role("link", name="results")
    results.click()
    page.wait_for_load_state("load")
    assert page.url.endswith(".html") and "validations" in page.url
    # Bootstrap's styles, jQuery, and Font Awesome's icon font all came from the site's own copies.
    page.wait_for_function("() => document.fonts.status === 'loaded'", timeout=30_000)
    assert page.evaluate(
        "() => typeof window.jQuery === 'function' && typeof window.jQuery.fn.collapse === 'function'"
        " && typeof window.vegaEmbed === 'function'"
    ), "jQuery, Bootstrap's plugins or Vega did not load"
    assert page.evaluate("""() => document.fonts.check('900 16px "Font Awesome 6 Free"')""")
    radius = page.evaluate("() => getComputedStyle(document.querySelector('.card')).borderTopLeftRadius")
    assert radius == "4px", "bootstrap.min.css was not applied"
    assert "gold.fact_orders" in page.inner_text("body")
    page.screenshot(path=str(tmp_path / "data_docs_validation.png"), full_page=True)
    assert [u for u in requested if not u.startswith("file:")] == [], "the Data Docs fetched something"
    assert failed == [], f"files the pages need are missing: {failed}"
    context.close()


def test_a_report_on_an_empty_lake_says_what_to_run(tmp_path: Path) -> None:
    html = build_report(str(tmp_path))
    assert html.count("not built yet") == 3 and "lakehouse run all --root" in html
