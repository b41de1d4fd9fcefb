"""How soon the dashboard's first page is interactive: `lakehouse dashboard` started on a lake, then the
Overview opened in headless Chromium (Debian's) until its chart is drawn and the script run is over
(its filters then answer). The first visit comes right after the server is up, from a browser with
nothing cached, as does the next visitor's; "returning" is that visitor opening the page again (its
browser has the page's scripts). Median of --runs server starts.

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

from tests.dashboard.browser import CHART_DRAWN, CHROMIUM, SCRIPT_DONE, Dashboard


def visit(page, url: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds from asking for the page to its script run being over and its chart drawn."""
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector("h1", timeout=60_000)
    page.wait_for_function(CHART_DRAWN, polling=50, timeout=60_000)
    page.wait_for_function(SCRIPT_DONE, polling=50, timeout=60_000)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="a built lake")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"machine check: {machine_check():.0f} ms")
    figures: dict[str, list[float]] = {
        "server up": [],
        "first visit": [],
        "next visitor": [],
        "returning": [],
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        for _ in range(args.runs):
            t0 = time.perf_counter()
            server = Dashboard(Path(args.root), Path(tempfile.mkdtemp()) / "streamlit.log")
            figures["server up"].append(time.perf_counter() - t0)
            try:
                for name in ("first visit", "next visitor"):  # each a browser with nothing cached
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    figures[name].append(visit(page, server.url))
                figures["returning"].append(visit(page, server.url))  # the next visitor comes back
                context.close()
            finally:
                server.stop()
        browser.close()
    for name, values in figures.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:>13}: median {statistics.median(values):.2f} s ({shown})")


if __name__ == "__main__":
    main()
