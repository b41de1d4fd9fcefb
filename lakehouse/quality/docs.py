"""The lake's Data Docs: one site at <root>/dq/data_docs/ for every job, with every run kept.

Great Expectations renders each run's validation pages and the suites' pages; this module makes them
work offline (the scripts, styles and fonts its templates load from CDNs are served from the site's own
static/vendor/, copies of the same releases shipped in data_docs_assets/), keeps the pages of earlier
runs, and writes the site's index from a small record per run (runs/<run id>.json). The index, not
Great Expectations', says what happened to each table: passed, published with warnings, or blocked.
Great Expectations has no warning level (its pages mark a suite failed when any expectation failed,
whatever its severity), so the index and the dashboard's quality page are where warnings read as
warnings. The last `quality.data_docs_runs` runs are kept; older runs' pages are removed.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from lakehouse.core import storage

if TYPE_CHECKING:
    from lakehouse.quality.gates import Verdict

ASSETS = Path(__file__).with_name("data_docs_assets")
VENDOR = "static/vendor"
# What Great Expectations' templates load from the web, and the shipped copy serving it.
CDN = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table-filter-control.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "bootstrap-prefers-dark.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed.min.js",
}
_CDN_REF = re.compile(
    "|".join(f"(?<=[\"']){re.escape(url)}(?=[\"'])" for url in sorted(CDN, key=len, reverse=True))
)
# The navbar logo (with a usage-tracking query) and the dark theme's logo come from Great Expectations'
# web bucket; the site has the logo in static/images/.
_GE_WEB_ASSET = re.compile(
    r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/[^\"'()\s]+"
)
# Subresource integrity and CORS mode are for the CDNs; on a page opened from disk a crossorigin request
# for a local file fails, and the script never runs.
_CDN_ONLY_ATTRIBUTE = re.compile(r"""\s(?:integrity|crossorigin)=(?:"[^"]*"|'[^']*')""")
STATUS = {
    "passed": "passed",
    "warnings": "published with warnings",
    "blocked": "blocked, not published",
    "failed": "critical failed (validated after publication)",
}


def site_uri(root: str) -> str:
    return storage.join(root, "dq", "data_docs")


def offline(page: str, depth: int) -> str:
    """A Great Expectations page with its web assets served from the site: `depth` is how many folders
    below the site's root the page is."""
    up = "../" * depth
    page = _CDN_REF.sub(lambda m: f"{up}{VENDOR}/{CDN[m.group(0)]}", page)
    page = _CDN_ONLY_ATTRIBUTE.sub("", page)
    return _GE_WEB_ASSET.sub(f"{up}static/images/logo-long.png", page)


@dataclass(frozen=True)
class TableRecord:
    suite: str
    rows: int
    expectations: int
    critical: int
    warnings: int
    score: float | None
    status: str
    page: str | None  # the validation page, relative to the site's root
    examples: str | None  # the page of the failed expectations with unexpected values


def run_name(job: str, run_id: str) -> str:
    """How a run is named to Great Expectations, and so in its pages' paths."""
    return f"{job} {run_id}"


def _pages(local: Path, run_name: str) -> dict[str, str]:
    """Suite name -> its validation page in a rendered site (the last, if validated more than once)."""
    found: dict[str, str] = {}
    for page in sorted((local / "validations").rglob("*.html")):
        parts = page.relative_to(local).parts
        if run_name in parts:
            found[".".join(parts[1 : parts.index(run_name)])] = "/".join(parts)
    return found


def _records(verdicts: list[Verdict], pages: dict[str, str]) -> list[TableRecord]:
    return [
        TableRecord(
            v.suite,
            v.rows,
            len(v.outcomes),
            len(v.critical_failures),
            len(v.warnings),
            v.scores()["overall"],
            v.status,
            pages.get(v.suite),
            pages.get(f"{v.suite}.failed"),
        )
        for v in verdicts
    ]


def publish(root: str, local: Path, job: str, run_id: str, verdicts: list[Verdict], keep: int) -> str:
    """Put one run's rendered pages (in `local`) into the lake's site, record the run, drop runs beyond
    the last `keep`, and rewrite the index. Returns the index's URI."""
    site = site_uri(root)
    storage.delete_tree(storage.join(site, job))  # the per-job site of earlier versions
    for f in sorted(p for p in local.rglob("*.html") if p.name != "index.html"):
        rel = f.relative_to(local)
        if rel.parts[0] == "expectations" and rel.with_suffix("").parts[-1] == "failed":
            continue  # the suite of a run's failed expectations only: its page is not a suite of the lake
        page = offline(f.read_text(encoding="utf-8"), len(rel.parts) - 1)
        storage.write_bytes(storage.join(site, *rel.parts), page.encode())
    _static(site, local)
    record = {
        "run_id": run_id,
        "job": job,
        "validated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "tables": [r.__dict__ for r in _records(verdicts, _pages(local, run_name(job, run_id)))],
    }
    storage.write_bytes(
        storage.join(site, "runs", f"{run_id}.{job}.json"), json.dumps(record, indent=1).encode()
    )
    runs = _runs(site)
    for old in runs[keep:]:
        _drop(site, old)
    index = storage.join(site, "index.html")
    storage.write_bytes(index, index_page(root, runs[:keep], keep).encode())
    return index


def _static(site: str, local: Path) -> None:
    """Great Expectations' own static files and the vendored ones, copied once per release."""
    stamp = storage.join(site, VENDOR, "STAMP")
    wanted = _stamp()
    if storage.exists(stamp) and storage.read_bytes(stamp).decode() == wanted:
        return
    for f in sorted(p for p in (local / "static").rglob("*") if p.is_file()):
        storage.write_bytes(storage.join(site, *f.relative_to(local).parts), f.read_bytes())
    for f in sorted(p for p in ASSETS.rglob("*") if p.is_file()):
        storage.write_bytes(storage.join(site, VENDOR, *f.relative_to(ASSETS).parts), f.read_bytes())
    storage.write_bytes(stamp, wanted.encode())


def _stamp() -> str:
    import great_expectations

    from lakehouse import __version__

    return f"lakehouse {__version__}, great_expectations {great_expectations.__version__}"


def _runs(site: str) -> list[dict]:
    """Every recorded run, newest first."""
    runs = []
    for uri in storage.list_files(storage.join(site, "runs")):
        if uri.endswith(".json"):
            try:
                runs.append(json.loads(storage.read_bytes(uri)))
            except (ValueError, OSError):
                continue  # a record cut short by a killed run: that run is not shown
    return sorted(runs, key=lambda r: (r["validated_at"], r["run_id"]), reverse=True)


def _drop(site: str, run: dict) -> None:
    """A run's pages and record. A page's folder is its run's (validations/<suite>/<run name>/...)."""
    for t in run["tables"]:
        for page in (t["page"], t["examples"]):
            if page:
                parts = page.split("/")
                storage.delete_tree(storage.join(site, *parts[:-2]))
    storage.delete(storage.join(site, "runs", f"{run['run_id']}.{run['job']}.json"))


def _href(rel: str) -> str:
    return "/".join(quote(p) for p in rel.split("/"))


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#1f2933}
h1{font-size:22px;margin-bottom:4px} p.note{color:#52606d;max-width:860px}
details{border:1px solid #d9e2ec;border-radius:6px;margin:10px 0;padding:6px 12px}
summary{cursor:pointer;font-weight:600} table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e4e7eb} td.n{text-align:right}
.passed{color:#0b6e4f}.warnings{color:#8d5b00}.blocked,.failed{color:#b42318;font-weight:600}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;margin-left:6px}
.badge.passed{background:#e3f9e5}.badge.warnings{background:#fff3c4}.badge.blocked,.badge.failed{background:#ffe3e3}
"""


def index_page(root: str, runs: list[dict], keep: int) -> str:
    """The site's front page: every kept run, newest first, each table's status and its pages."""
    e = html.escape
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Data Docs: {e(root)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Data quality of {e(root)}</h1>",
        f"<p class='note'>Every validation of the last {keep} runs, newest first. A table whose only failed "
        "expectations are warnings is published with warnings; Great Expectations' own pages mark it failed, "
        "because it has no warning level. Critical failures block publication.</p>",
    ]
    if not runs:
        out.append("<p>No validation has been recorded yet: run <code>lakehouse run all</code>.</p>")
    for i, run in enumerate(runs):
        tables = run["tables"]
        counts = {s: sum(t["status"] == s for t in tables) for s in STATUS}
        badges = "".join(f"<span class='badge {s}'>{n} {STATUS[s]}</span>" for s, n in counts.items() if n)
        out.append(
            f"<details{' open' if i == 0 else ''}><summary>{e(run['job'])} {e(run['run_id'])} "
            f"<small>({e(run['validated_at'])}, {len(tables)} tables)</small>{badges}</summary><table>"
            "<tr><th>table</th><th>status</th><th>rows</th><th>expectations</th><th>critical failed</th>"
            "<th>warnings failed</th><th>score</th><th>pages</th></tr>"
        )
        for t in tables:
            links = [f"<a href='{_href(t['page'])}'>results</a>"] if t["page"] else []
            if t["examples"]:
                links.append(f"<a href='{_href(t['examples'])}'>unexpected values</a>")
            suite = "expectations/" + t["suite"].replace(".", "/") + ".html"
            links.append(f"<a href='{_href(suite)}'>suite</a>")
            score = "" if t["score"] is None else f"{t['score']:.2f}"
            out.append(
                f"<tr><td>{e(t['suite'])}</td><td class='{t['status']}'>{STATUS[t['status']]}</td>"
                f"<td class='n'>{t['rows']:,}</td><td class='n'>{t['expectations']}</td>"
                f"<td class='n'>{t['critical']}</td><td class='n'>{t['warnings']}</td><td class='n'>{score}</td>"
                f"<td>{' · '.join(links)}</td></tr>"
            )
        out.append("</table></details>")
    out.append("</body></html>")
    return "\n".join(out)
