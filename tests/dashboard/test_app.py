"""The dashboard as a person uses it: `lakehouse dashboard` serving a small lake, every page opened in
headless Chromium (Debian's, driven by Playwright), charts checked for data, filters changing the
numbers, the Overview's figures equal to gold's, and a screenshot of every page."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

from lakehouse.dashboard.app import PAGES
from tests.bronze.audit import Bronze
from tests.dashboard.browser import CHART_POINTS, Dashboard, serving, settle

# In one test process under `--dist loadgroup`: one dashboard server.
pytestmark = pytest.mark.xdist_group("test_app")


@pytest.fixture(scope="module")
def dashboard(published: Bronze, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    yield from serving(published.root, tmp_path_factory)


def _metrics(page: object) -> dict[str, str]:
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()  # type: ignore[attr-defined]
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()  # type: ignore[attr-defined]
    return dict(zip([label.strip() for label in labels], values, strict=True))


def _money(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def test_every_page_renders_its_charts_with_data(
    dashboard: Dashboard, browser: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shots = tmp_path_factory.mktemp("screenshots")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    timings = {}
    for _, title, path in PAGES:
        started = time.perf_counter()
        page.goto(f"{dashboard.url}/{path}")
        settle(page)
        timings[title] = time.perf_counter() - started
        assert page.locator('[data-testid="stException"]').count() == 0, f"{title}: an exception is shown"
        assert page.locator("h1").first.inner_text().strip() == (
            "Products and categories" if title == "Products" else title
        )
        with contextlib.suppress(
            Exception
        ):  # drawn a moment after the script run ends; the assert says which
            page.wait_for_function(
                f"() => ({CHART_POINTS})().every(c => c.points > 0 && c.drawn > 0)", timeout=15_000
            )
        charts = page.evaluate(CHART_POINTS)
        assert charts, f"{title}: no chart"
        empty = [(c["title"], c["points"], c["drawn"]) for c in charts if c["points"] == 0 or c["drawn"] == 0]
        assert not empty, f"{title}: charts without data: {empty}"
        page.screenshot(path=str(shots / f"{path or 'overview'}.png"), full_page=True)
    print(
        f"dashboard screenshots in {shots}; seconds to charts drawn: "
        + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
    )


def test_overview_shows_gold_figures_and_filters_change_them(
    dashboard: Dashboard, browser: object, published: Bronze
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(f"{dashboard.url}/")
    settle(page)
    shown = _metrics(page)
    # The default period is the last 7 days with orders; gold's daily KPI over the same days.
    daily = DeltaTable(str(published.root / "gold" / "kpi_daily_sales")).to_pandas()
    end = daily["date"].max()
    week = daily[daily["date"] > end - dt.timedelta(days=7)]
    assert _money(shown["Revenue"]) == round(float(week["revenue"].sum()))  # whole dollars on the card
    assert int(shown["Orders"].replace(",", "")) == int(week["orders"].sum())
    assert int(shown["New customers"].replace(",", "")) == int(week["new_customers"].sum())
    funnel = DeltaTable(str(published.root / "gold" / "kpi_conversion_funnel")).to_pandas()
    f = funnel[
        (funnel["date_key"] > int((end - dt.timedelta(days=7)).strftime("%Y%m%d")))
        & (funnel["date_key"] <= int(end.strftime("%Y%m%d")))
    ]
    assert shown["Conversion"] == f"{f['purchase_sessions'].sum() / f['sessions'].sum():.2%}"
    # One country: the figures are that country's, smaller than all countries'.
    country = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Country")
    country.locator("input").click()
    page.keyboard.type("Germany")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    settle(page)
    filtered = _metrics(page)
    assert 0 < _money(filtered["Revenue"]) < _money(shown["Revenue"])
    assert int(filtered["Orders"].replace(",", "")) < int(shown["Orders"].replace(",", ""))
    assert page.locator('[data-testid="stException"]').count() == 0


def test_an_empty_lake_says_what_to_run(browser: object, tmp_path: Path) -> None:
    d = Dashboard(tmp_path / "empty lake", tmp_path / "streamlit.log")
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        for _, title, path in PAGES:
            page.goto(f"{d.url}/{path}")
            settle(page, charts=False)
            page.wait_for_selector('[data-testid="stAlert"]', timeout=60_000)
            text = page.inner_text("body")
            assert page.locator('[data-testid="stException"]').count() == 0, f"{title}: {text[:500]}"
            assert "Not built yet" in text and "lakehouse run" in text, f"{title}: {text[:500]}"
    finally:
        d.stop()
