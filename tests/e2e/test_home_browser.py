"""The home page in a real browser: it renders the demo world's summary without errors."""

import pytest
from helpers import screenshot


@pytest.mark.slow
def test_home_page_renders_the_world(dashboard, page):
    page.goto(dashboard)
    page.get_by_text("Demo world", exact=True).wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("GSAE CE loss recovered").count() == 1
    assert (
        page.locator(".js-plotly-plot .xtitle").first.text_content().startswith("concept frequency")
    )
    assert screenshot(page, "home").stat().st_size > 10_000
