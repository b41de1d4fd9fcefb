"""The lake's Data Docs site: Great Expectations' pages without their CDNs, every kept run indexed with
the table's real status, older runs dropped. (The site rendered in Chromium offline is
tests/dashboard/test_report.py's.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lakehouse.quality import docs
from lakehouse.quality.gates import Check, Outcome, Verdict

GE_TEMPLATES = Path(__import__("great_expectations").__file__).parent / "render" / "view" / "templates"
WEB_ASSET = re.compile(r"""(?:src|href)=["'](https://[^"']+)["']""")


def test_every_script_and_style_the_templates_load_from_the_web_has_a_shipped_copy() -> None:
    loaded = set()
    for template in GE_TEMPLATES.glob("*.j2"):
        for url in WEB_ASSET.findall(template.read_text()):
            if url.endswith((".js", ".css")) or "/npm/vega" in url:
                loaded.add(url)
    assert loaded, "the templates' asset URLs were not found: has Great Expectations changed its templates?"
    assert loaded <= set(docs.CDN), f"not served offline: {sorted(loaded - set(docs.CDN))}"
    for target in set(docs.CDN.values()):
        assert (docs.ASSETS / target).is_file(), target
    css = (docs.ASSETS / "fontawesome" / "css" / "all.min.css").read_text()
    for font in set(re.findall(r"url\(\.\./webfonts/([^)]+\.woff2)\)", css)):
        assert (docs.ASSETS / "fontawesome" / "webfonts" / font).is_file(), font


def test_a_page_loads_its_assets_from_the_site_at_its_depth() -> None:
    page = (
        '<link href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css" rel="stylesheet">'
        '<script src="https://cdn.jsdelivr.net/npm/vega@5" integrity="sha384-Ap" crossorigin="anonymous"></script>'
        '<script src="https://cdn.jsdelivr.net/npm/vega-lite@5"></script>'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=20261201T2">'
        "<style>.x{background:url('https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png')}</style>"
        '<a href="https://greatexpectations.io">a link stays a link</a>'
    )
    out = docs.offline(page, 3)
    assert 'href="../../../static/vendor/bootstrap.min.css"' in out
    assert (
        'src="../../../static/vendor/vega.min.js"' in out
        and 'src="../../../static/vendor/vega-lite.min.js"' in out
    )
    assert (
        'src="../../../static/images/logo-long.png"' in out
        and "url('../../../static/images/logo-long.png')" in out
    )
    assert re.findall(r"https://[^\"']+", out) == ["https://greatexpectations.io"]
    assert "integrity" not in out and "crossorigin" not in out  # a CORS request for a local file fails


def _verdict(suite: str, critical: int = 0, warnings: int = 0, published: bool = True) -> Verdict:
    layer, table = suite.split(".")
    outcomes = []
    for severity, failed in (("critical", critical), ("warning", warnings)):
        check = Check("expect_column_values_to_not_be_null", {"column": "id"}, severity, "completeness")
        outcomes += [
            Outcome(check, ok, None, 0 if ok else 1, 10, 0.0 if ok else 10.0)
            for ok in [False] * failed + [True]
        ]
    return Verdict(layer, table, 10, outcomes, published)


def _rendered(tmp_path: Path, run_name: str, suites: list[str]) -> Path:
    """A site as Great Expectations renders one run: a validation page per suite, the suites' pages."""
    local = tmp_path / f"render-{len(list(tmp_path.iterdir()))}"
    for suite in suites:
        parts = suite.split(".")
        page = (
            local / "validations" / Path(*parts) / run_name / "20261201T000000Z" / f"lakehouse-{suite}.html"
        )
        page.parent.mkdir(parents=True)
        page.write_text('<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>' + suite)
        (local / "expectations" / Path(*parts[:-1])).mkdir(parents=True, exist_ok=True)
        (local / "expectations" / Path(*parts)).with_suffix(".html").write_text(suite)
    (local / "static" / "styles").mkdir(parents=True)
    (local / "static" / "styles" / "data_docs_default_styles.css").write_text("body{}")
    (local / "index.html").write_text("Great Expectations' index")
    return local


def test_the_site_keeps_every_run_says_warnings_and_drops_runs_beyond_the_kept(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    site = Path(docs.site_uri(root))
    first = _rendered(
        tmp_path,
        docs.run_name("bronze_to_silver", "r1"),
        ["silver.orders", "silver.customers", "silver.orders.failed"],
    )
    verdicts = [
        _verdict("silver.orders", warnings=1),
        _verdict("silver.customers", critical=1, published=False),
    ]
    docs.publish(root, first, "bronze_to_silver", "r1", verdicts, keep=2)
    second = _rendered(tmp_path, docs.run_name("silver_to_gold", "r2"), ["gold.fact_orders"])
    docs.publish(root, second, "silver_to_gold", "r2", [_verdict("gold.fact_orders")], keep=2)

    index = (site / "index.html").read_text()
    assert index.index("silver_to_gold r2") < index.index("bronze_to_silver r1"), "newest first"
    rows = {m[0]: m[1] for m in re.findall(r"<tr><td>([a-z_.]+)</td><td class='\w+'>([^<]+)</td>", index)}
    assert rows == {
        "silver.orders": "published with warnings",
        "silver.customers": "blocked, not published",
        "gold.fact_orders": "passed",
    }
    for href in re.findall(r"href='([^']+)'", index):
        assert (site / href.replace("%20", " ")).is_file(), href
    page = next((site / "validations" / "silver" / "orders").glob("*/*/*.html"))
    assert '<script src="../../../../../static/vendor/jquery.min.js">' in page.read_text()
    assert (site / "static" / "vendor" / "jquery.min.js").is_file()
    assert (site / "static" / "styles" / "data_docs_default_styles.css").is_file()
    assert not (site / "expectations" / "silver" / "orders" / "failed.html").exists(), (
        "not a suite of the lake"
    )
    record = json.loads((site / "runs" / "r1.bronze_to_silver.json").read_text())
    assert record["tables"][0]["examples"].startswith("validations/silver/orders/failed/")

    third = _rendered(tmp_path, docs.run_name("silver_to_gold", "r3"), ["gold.fact_orders"])
    docs.publish(root, third, "silver_to_gold", "r3", [_verdict("gold.fact_orders")], keep=2)
    index = (site / "index.html").read_text()
    assert (
        "silver_to_gold r3" in index and "silver_to_gold r2" in index and "bronze_to_silver r1" not in index
    )
    assert not list(site.rglob("*bronze_to_silver r1*")), "the dropped run's pages are gone"
    assert not (site / "runs" / "r1.bronze_to_silver.json").exists()
    assert list((site / "validations" / "gold" / "fact_orders").glob("silver_to_gold r2/*/*.html"))


def test_an_empty_site_says_what_to_run() -> None:
    assert "lakehouse run all" in docs.index_page("data", [], 60)


@pytest.mark.parametrize(
    ("verdict", "status"),
    [
        (_verdict("silver.orders"), "passed"),
        (_verdict("silver.orders", warnings=2), "warnings"),
        (_verdict("silver.orders", critical=1, warnings=1, published=False), "blocked"),
        (_verdict("silver.orders", critical=1, published=True), "failed"),  # lakehouse validate, afterwards
    ],
)
def test_a_tables_status(verdict: Verdict, status: str) -> None:
    assert verdict.status == status
