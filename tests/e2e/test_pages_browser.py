"""Every page in headless Chromium: no exception, its key element, a screenshot; a decoder-map click
opens a feature."""

import re

import pytest
from helpers import screenshot

PAGES = {  # url path -> (text the script renders last, plotly charts expected at least)
    "compare": ("Download the HTML report", 6),
    "data": ("The demo world's sets", 0),
    "select": ("Top documents", 0),
    "finetune": ("Finetuning curves", 1),
    "evaluate": ("Download data (CSV)", 2),
    "tail": ("Download data (CSV)", 2),
    "features": ("Feature activation count vs rank", 1),
    "errors": ("Tokens each SAE fixed or broke", 0),
    "autointerp": ("Run autointerp (background job)", 0),
    "shift": ("Rank latents and remove the suggested ones", 0),
}
# the page's charts are drawn and no element is still a loading placeholder
DRAWN = (
    "() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts} &&"
    " !document.querySelector('[data-testid=\"stSkeleton\"]')"
)


@pytest.mark.parametrize("path, last, charts", [(k, *v) for k, v in PAGES.items()])
def test_page_renders_in_the_browser(dashboard, page, path, last, charts):
    page.set_viewport_size(
        {"width": 1400, "height": 2400}
    )  # Streamlit scrolls inside its own container
    page.goto(f"{dashboard}/{path}")
    page.get_by_text(last, exact=False).first.wait_for(timeout=180_000)
    page.wait_for_function(DRAWN.format(charts=charts), timeout=60_000)
    page.wait_for_timeout(500)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert screenshot(page, f"page-{path}").stat().st_size > 10_000


@pytest.mark.slow
def test_clicking_a_decoder_map_point_opens_the_feature(dashboard, page):
    page.goto(f"{dashboard}/features")
    page.get_by_role("tab", name="Decoder map").click()
    plot = page.locator(".js-plotly-plot").filter(has_text="Decoder directions").first
    plot.wait_for(timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some(g => g.data && g.data.length"
        " === 2 && g._fullLayout && g._fullLayout.xaxis)",
        timeout=60_000,
    )
    x, y, feature = page.evaluate("""() => {
            const title = g => {
                const t = (g.layout || {}).title;
                return (typeof t === 'string' ? t : (t || {}).text) || '';
            };
            const gd = [...document.querySelectorAll('.js-plotly-plot')]
                .find(g => title(g).includes('Decoder directions'));
            const L = gd._fullLayout, box = gd.getBoundingClientRect();
            const at = (t, i) => [box.left + L._size.l + L.xaxis.l2p(t.x[i]),
                                  box.top + L._size.t + L.yaxis.l2p(t.y[i])];
            const points = gd._fullData.flatMap(t => [...t.x.keys()].map(i => at(t, i)));
            const trace = gd._fullData[1];
            // the live point farthest from any other point: a click there hits it alone
            let best = 0, room = -1;
            for (let i = 0; i < trace.x.length; i++) {
                const [px, py] = at(trace, i);
                const gap = Math.min(...points.map(([qx, qy]) =>
                    (qx === px && qy === py) ? Infinity : Math.hypot(qx - px, qy - py)));
                if (gap > room) { room = gap; best = i; }
            }
            return [...at(trace, best), trace.customdata[best]];
        }""")
    page.mouse.click(x, y)
    page.locator(f'[data-feature="{feature}"]').wait_for(
        timeout=60_000
    )  # the browser tab opens on the clicked feature's examples
    screenshot(page, "features-opened-from-map")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert re.search(rf'value="{feature}\s+\(fires on', page.content()), (
        f"the feature browser's picker shows the clicked feature {feature}"
    )


def test_the_dark_matter_tab_runs_its_fits_when_opened(dashboard, page):
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{dashboard}/errors")
    page.get_by_text("Tokens each SAE fixed or broke").wait_for(timeout=180_000)
    page.get_by_role("tab", name="Dark matter on the split").click()
    page.get_by_text("SAE error: linearly predictable", exact=False).first.wait_for(timeout=180_000)
    page.wait_for_function(DRAWN.format(charts=2), timeout=60_000)
    page.wait_for_timeout(500)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert screenshot(page, "page-errors-dark-matter").stat().st_size > 10_000
