"""How soon the dashboard's first page is interactive: `lakehouse dashboard` started on a lake, then the
Overview opened in headless Chromium (Debian's) until its charts are drawn and the script run is over.
Cold is the first visit after the server is up; warm, a second visitor after that. Median of --runs
server starts.

    .venv/bin/python bench/dashboard.py --root data            # the README's default 7-day lake
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: its tests' browser helpers
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import machine_check

from tests.dashboard.browser import CHROMIUM, Dashboard, settle


def visit(browser, url: str) -> float:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    started = time.perf_counter()
    page.goto(url)
    settle(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some(gd => (gd.calcdata || []).length)"
    )
    seconds = time.perf_counter() - started
    page.close()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="a built lake")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"machine check: {machine_check():.0f} ms")
    cold, warm, start = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        for _ in range(args.runs):
            t0 = time.perf_counter()
            server = Dashboard(Path(args.root), Path(tempfile.mkdtemp()) / "streamlit.log")
            start.append(time.perf_counter() - t0)
            try:
                cold.append(visit(browser, server.url))
                warm.append(visit(browser, server.url))
            finally:
                server.stop()
        browser.close()
    for name, values in (("server up", start), ("first visit", cold), ("next visitor", warm)):
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:>13}: median {statistics.median(values):.2f} s ({shown})")


if __name__ == "__main__":
    main()
