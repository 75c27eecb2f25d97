"""Dashboard page timings in headless Chromium on a built quick demo workspace.

    python bench/pages.py [--workspace DIR]

Builds (or reuses) the quick world, its demo comparison and the evaluations, starts
``streamlit run app.py``, then per page: a first visit (warm-up: models load, caches
fill) and a second visit, each timed from navigation to the element the page renders
last. Also times switching the feature browser to another feature. Targets: under 2 s
per page after warm-up, under 300 ms per feature switch.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from test_pages_browser import PAGES  # noqa: E402  (the same pages and last elements as the browser tests)


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "ssae_core", *args], cwd=ROOT, check=True, capture_output=True)


def prepare(ws: str) -> None:
    cli("demo", "build", "--quick", "--workspace", ws, "--device", "cpu")
    out = subprocess.run([sys.executable, "-m", "ssae_core", "demo", "ssaes", "--quick", "--workspace", ws, "--json"], cwd=ROOT, check=True, capture_output=True, text=True)
    import json

    arts = json.loads(out.stdout)
    cli("evaluate", "--quick", "--workspace", ws, "--ssae", arts["erm"], "--ssae", arts["term"], "--split", "physics_test", "--split", "physics_ood")


def serve(ws: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SSAE_WORKSPACE": ws, "SSAE_DEMO": "quick"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("streamlit did not start")


def visit(page, url: str, last: str, charts: int) -> float:
    start = time.perf_counter()
    page.goto(url)
    page.get_by_text(last, exact=False).first.wait_for(timeout=180_000)
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}", timeout=60_000)
    return time.perf_counter() - start


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
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1400, "height": 2400})
                print(f"{'page':<12} {'first visit':>12} {'after warm-up':>14}")
                for path, (last, charts) in PAGES.items():
                    first = visit(page, f"{url}/{path}", last, charts)
                    second = visit(page, f"{url}/{path}", last, charts)
                    print(f"{path:<12} {first:>10.2f} s {second:>12.2f} s")
                visit(page, f"{url}/features", *PAGES["features"])
                page.get_by_role("tab", name="Feature browser").click()
                switches = []
                for j in (5, 6, 7, 8):
                    box = page.get_by_label("Search: a feature id, a token, or words of an explanation")
                    start = time.perf_counter()
                    box.fill(str(j))
                    box.press("Enter")
                    page.wait_for_function(f"() => [...document.querySelectorAll('input')].some(i => (i.value || '').startsWith('{j} '))", timeout=60_000)
                    page.get_by_text("Top activating examples").wait_for(timeout=60_000)
                    switches.append(time.perf_counter() - start)
                print(f"feature switch (to the examples shown): first {switches[0] * 1000:.0f} ms, then median {sorted(switches[1:])[1] * 1000:.0f} ms")
                browser.close()
        finally:
            proc.terminate()


if __name__ == "__main__":
    main()
