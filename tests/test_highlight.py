"""Token highlighting HTML: example windows and the per-token error rows."""

import pandas as pd

from ssae_core.highlight import error_rows_html, example_html


def test_error_rows_share_one_scale_and_escape_tokens():
    norms = pd.DataFrame({"sae": ["GSAE"] * 3 + ["SSAE"] * 3, "token_index": [0, 1, 2] * 2, "error_norm": [0.0, 2.0, 4.0, 1.0, 1.0, 1.0]})
    out = error_rows_html(norms, ["a", "<b>", "c"])
    gsae, ssae = out.split("SSAE</b>")
    assert "rgba(201, 42, 42, 1.00)" in gsae and "rgba(201, 42, 42, 0.00)" in gsae  # 4.0 is the max over every row
    assert ssae.count("rgba(201, 42, 42, 0.25)") == 3
    assert "&lt;b&gt;" in out and "<b>a" not in out and "to 4 (darkest red)" in out


def test_example_html_shades_active_tokens_only():
    out = example_html(["the", "quark"], [0.0, 2.0], scale=4.0)
    assert 'title="2.000"' in out and "rgba(232, 89, 12, 0.50)" in out and out.count("<span") == 1
