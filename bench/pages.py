"""Dashboard page timings in headless Chromium on a built quick demo workspace.

    python bench/pages.py [--workspace DIR]

Builds (or reuses) the quick world, its demo comparison and the evaluations, starts
``streamlit run app.py``, then per page: a first visit (warm-up: models load, caches
fill), then after warm-up the median of 3 sidebar clicks from Home (how users move
between pages: the app stays loaded) and of 3 full reloads (the browser starts the app
again), each timed to the element the page renders last and its charts drawn, from a
settled page. Also times switching the feature browser to another feature (Enter in the
search box to the new feature's examples shown). Targets: under 2 s per page after
warm-up, under 300 ms per feature switch.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

# the same pages and last elements as the browser tests
from test_pages_browser import DRAWN, PAGES  # noqa: E402


def cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "ssae_core", *args], cwd=ROOT, check=True, capture_output=True
    )


def prepare(ws: str) -> None:
    cli("demo", "build", "--quick", "--workspace", ws, "--device", "cpu")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ssae_core",
            "demo",
            "ssaes",
            "--quick",
            "--workspace",
            ws,
            "--json",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    import json

    arts = json.loads(out.stdout)
    cli(
        "evaluate",
        "--quick",
        "--workspace",
        ws,
        "--ssae",
        arts["erm"],
        "--ssae",
        arts["term"],
        "--split",
        "physics_test",
        "--split",
        "physics_ood",
    )


def serve(ws: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SSAE_WORKSPACE": ws, "SSAE_DEMO": "quick"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("streamlit did not start")


TITLES = {
    "compare": "Compare",
    "data": "Seeds & data",
    "select": "Select",
    "finetune": "Finetune",
    "evaluate": "Evaluate",
    "tail": "Tail tokens",
    "features": "Features",
    "errors": "Error norms",
    "autointerp": "Autointerp",
    "shift": "SHIFT",
}  # sidebar labels
REPEATS = 3
SETTLE_MS = 1500  # between measurements: the last page finishes drawing, as when a user reads it


def rendered(page, last: str, charts: int, start: float) -> float:
    """Seconds from ``start`` until the page's last element and its charts are drawn."""
    page.get_by_text(last, exact=False).first.wait_for(timeout=180_000)
    page.wait_for_function(DRAWN.format(charts=charts), timeout=60_000)
    return time.perf_counter() - start


def visit(page, url: str, last: str, charts: int) -> float:
    """A full page load (the browser fetches and starts the app again)."""
    start = time.perf_counter()
    page.goto(url)
    return rendered(page, last, charts, start)


def navigate(page, title: str, last: str, charts: int) -> float:
    """A click in the sidebar from Home (the app stays loaded, as when a user moves between
    pages)."""
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_text("Home", exact=True).click()
    page.get_by_text("Workspace", exact=True).wait_for(timeout=60_000)
    page.wait_for_timeout(SETTLE_MS)
    start = time.perf_counter()
    nav.get_by_text(title, exact=True).click()
    return rendered(page, last, charts, start)


def open_tab(page, name: str, last: str, charts: int) -> float:
    start = time.perf_counter()
    page.get_by_role("tab", name=name).click()
    return rendered(page, last, charts, start)


def settled(page, measure) -> float:
    page.wait_for_timeout(SETTLE_MS)
    return measure()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        ws = args.workspace or tmp
        prepare(ws)
        proc, url = serve(ws)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(viewport={"width": 1400, "height": 2400})
                print(f"medians of {REPEATS} after warm-up")
                print(f"{'page':<12} {'first visit':>12} {'sidebar click':>14} {'full reload':>12}")
                for path, (last, charts) in PAGES.items():
                    first = visit(page, f"{url}/{path}", last, charts)
                    clicks = [navigate(page, TITLES[path], last, charts) for _ in range(REPEATS)]
                    reloads = [
                        settled(page, lambda: visit(page, f"{url}/{path}", last, charts))
                        for _ in range(REPEATS)
                    ]
                    print(
                        f"{path:<12} {first:>10.2f} s {np.median(clicks):>12.2f} s"
                        f" {np.median(reloads):>10.2f} s"
                    )
                tabs = []
                for _ in range(REPEATS):
                    visit(page, f"{url}/errors", *PAGES["errors"])
                    tabs.append(
                        settled(
                            page,
                            lambda: open_tab(
                                page,
                                "Dark matter on the split",
                                "SAE error: linearly predictable",
                                2,
                            ),
                        )
                    )
                print(
                    f"errors → Dark matter tab (fits cached after the first): first {tabs[0]:.2f}"
                    f" s, then median {np.median(tabs[1:]):.2f} s"
                )
                visit(page, f"{url}/features", *PAGES["features"])
                page.get_by_role("tab", name="Feature browser").click()
                switches = []
                for j in (5, 6, 7, 8, 9, 10):
                    page.wait_for_timeout(
                        SETTLE_MS
                    )  # a user reads the last feature; its histogram finishes drawing
                    box = page.get_by_label(
                        "Search: a feature id, a token, or words of an explanation"
                    )
                    box.fill(str(j))  # typing does not rerun; Enter does
                    start = time.perf_counter()
                    box.press("Enter")
                    page.locator(f'[data-feature="{j}"]').wait_for(
                        timeout=60_000
                    )  # the new feature's examples
                    switches.append(time.perf_counter() - start)
                print(
                    "feature switch (to the new feature's examples shown): first"
                    f" {switches[0] * 1000:.0f} ms, then median"
                    f" {float(np.median(switches[1:])) * 1000:.0f} ms of {len(switches) - 1}"
                )
                browser.close()
        finally:
            proc.terminate()


if __name__ == "__main__":
    main()
