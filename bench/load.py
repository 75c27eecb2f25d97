"""Many browser sessions at once on one dashboard: feature switches under load.

    python bench/load.py [--sessions 10] [--switches 8] [--workspace DIR]

Builds (or reuses) the quick world with its demo comparison (``bench/pages.py``'s
``prepare``), starts ``streamlit run app.py``, then runs the same scenario in one session
alone and in ``--sessions`` sessions at once (one headless Chromium, a context per session):
open Features, open the feature browser, and switch feature ``--switches`` times (Enter in
the search box, timed to the new feature's examples shown). Prints p50 / p95 of the switch
times, errors (an exception on the page, a timeout) and the ratio of the loaded p95 to the
lone one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from pages import prepare, serve  # noqa: E402
from test_pages_browser import DRAWN, PAGES  # noqa: E402

SEARCH = "Search: a feature id, a token, or words of an explanation"


async def session(browser, url: str, index: int, switches: int) -> tuple[list[float], int]:
    """One user: Features, the feature browser, ``switches`` feature switches."""
    context = await browser.new_context(viewport={"width": 1400, "height": 2400})
    page = await context.new_page()
    times, errors = [], 0
    try:
        last, charts = PAGES["features"]
        await page.goto(f"{url}/features")
        await page.get_by_text(last, exact=False).first.wait_for(timeout=300_000)
        await page.wait_for_function(DRAWN.format(charts=charts), timeout=120_000)
        await page.get_by_role("tab", name="Feature browser").click()
        for k in range(switches):
            feature = 5 + (index * switches + k) % 50
            box = page.get_by_label(SEARCH)
            await box.fill(str(feature))
            start = time.perf_counter()
            await box.press("Enter")
            await page.locator(f'[data-feature="{feature}"]').wait_for(timeout=120_000)
            times.append(time.perf_counter() - start)
            await page.wait_for_timeout(500)  # a user glances at the feature
        errors += await page.locator('[data-testid="stException"]').count()
    except Exception as exc:  # a timeout: counted, reported, the other sessions go on
        shot = Path(tempfile.gettempdir()) / f"ssae-load-session-{index}.png"
        await page.screenshot(path=str(shot), full_page=True)
        print(f"session {index}: {type(exc).__name__}: {str(exc)[:200]} (screenshot: {shot})")
        errors += 1
    await context.close()
    return times, errors


async def run(url: str, sessions: int, switches: int) -> tuple[np.ndarray, int]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        results = await asyncio.gather(
            *(session(browser, url, i, switches) for i in range(sessions))
        )
        await browser.close()
    times = np.array([t for ts, _ in results for t in ts[1:]])  # each session's first is warm-up
    return times, sum(e for _, e in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--switches", type=int, default=8)
    parser.add_argument("--workspace")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = args.workspace or tmp
        prepare(ws)
        proc, url = serve(ws)
        try:
            asyncio.run(run(url, 1, 3))  # warm-up: models load, caches fill
            rows = {}
            for n in (1, args.sessions):
                start = time.perf_counter()
                times, errors = asyncio.run(run(url, n, args.switches))
                wall = time.perf_counter() - start
                p50, p95 = np.percentile(times, [50, 95]) * 1000
                rows[n] = p95
                print(
                    f"{n:>2} session(s): {len(times)} switches, p50 {p50:.0f} ms, p95 {p95:.0f} ms,"
                    f" errors {errors}, wall {wall:.1f} s"
                )
            print(f"p95 ratio, {args.sessions} sessions vs 1: {rows[args.sessions] / rows[1]:.2f}x")
        finally:
            proc.terminate()


if __name__ == "__main__":
    main()
