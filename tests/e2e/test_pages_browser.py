"""Every page in headless Chromium: no exception, its key element, a screenshot; a decoder-map click opens a feature."""

import re

import pytest
from helpers import screenshot

PAGES = {  # url path -> text of the page's key element
    "compare": "Compare GSAE · SSAE · tilted SSAE",
    "data": "The demo world's sets",
    "select": "Top documents",
    "finetune": "Trained SSAEs",
    "evaluate": "Area under perplexity vs L0",
    "tail": "Tail tokens",
    "features": "Feature browser",
    "errors": "Dark matter on the split",
    "autointerp": "Autointerp",
}


def wait_ready(page):
    """Until Streamlit has finished running the script (no running indicator) and rendered something."""
    page.locator('[data-testid="stApp"]').wait_for(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


@pytest.mark.parametrize("path, key_text", PAGES.items())
def test_page_renders_in_the_browser(dashboard, page, path, key_text):
    page.goto(f"{dashboard}/{path}")
    page.get_by_text(key_text, exact=False).first.wait_for(timeout=120_000)
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert screenshot(page, f"page-{path}").stat().st_size > 10_000


def test_clicking_a_decoder_map_point_opens_the_feature(dashboard, page):
    page.goto(f"{dashboard}/features")
    page.get_by_role("tab", name="Decoder map").click()
    plot = page.locator(".js-plotly-plot").filter(has_text="Decoder directions").first
    plot.wait_for(timeout=120_000)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(g => g.data && g.data.length === 2 && g._fullLayout && g._fullLayout.xaxis)", timeout=60_000)
    x, y, feature = page.evaluate(
        """() => {
            const trace_len = g => g._fullData[1].x.length;
            const title = g => { const t = (g.layout || {}).title; return (typeof t === 'string' ? t : (t || {}).text) || ''; };
            const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => title(g).includes('Decoder directions'));
            const trace = gd._fullData[1], i = Math.floor(trace_len(gd) / 2), L = gd._fullLayout, box = gd.getBoundingClientRect();
            return [box.left + L._size.l + L.xaxis.l2p(trace.x[i]), box.top + L._size.t + L.yaxis.l2p(trace.y[i]), trace.customdata[i]];
        }"""
    )
    page.mouse.click(x, y)
    page.get_by_text(f"Feature {feature} opened").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Feature browser").click()
    page.get_by_text("Top activating examples").wait_for(timeout=60_000)
    screenshot(page, "features-opened-from-map")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert re.search(rf'value="{feature}\s+\(fires on', page.content()), f"the feature browser's picker shows the clicked feature {feature}"
