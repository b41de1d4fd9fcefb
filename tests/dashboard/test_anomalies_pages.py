"""The monitoring's anomalies on the dashboard's quality and health pages, on the world with incidents,
in headless Chromium: one chart point per anomaly, the table beside it, and a screenshot of each page."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from lakehouse.monitoring.definitions import PIPELINE_METRICS
from lakehouse.monitoring.read import read_anomalies
from tests.conftest import Lake
from tests.dashboard.browser import CHART_POINTS, Dashboard, serving, settle

pytestmark = pytest.mark.xdist_group("incidents")
TITLE = "Anomalies by metric and slice (size: |score|)"


@pytest.fixture(scope="module")
def dashboard(incident_lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    yield from serving(incident_lake.root, tmp_path_factory)


@pytest.mark.parametrize(("path", "pipeline_only"), [("quality", False), ("health", True)])
def test_the_anomalies_are_charted_and_listed(
    dashboard: Dashboard, browser: object, incident_lake: Lake, tmp_path_factory: pytest.TempPathFactory,
    path: str, pipeline_only: bool,
) -> None:  # fmt: skip
    found = read_anomalies(str(incident_lake.root))
    assert found is not None
    if pipeline_only:
        found = found[found["metric"].isin(PIPELINE_METRICS)]
    assert len(found) > 0
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(f"{dashboard.url}/{path}")
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    js = f"() => ({CHART_POINTS})().some(c => c.title.includes({TITLE!r}) && c.drawn > 0)"
    with contextlib.suppress(Exception):  # drawn a moment after the script ends; the assert says what
        page.wait_for_function(js, timeout=15_000)
    charts = [c for c in page.evaluate(CHART_POINTS) if TITLE in c["title"]]
    assert len(charts) == 1, f"no anomalies chart on {path}"
    assert charts[0]["points"] == len(found) and charts[0]["drawn"] > 0, "one point per anomaly"
    text = page.locator("body").inner_text()
    assert "Anomalies the monitoring found" in text
    page.screenshot(
        path=str(tmp_path_factory.mktemp("screenshots") / f"anomalies-{path}.png"), full_page=True
    )
