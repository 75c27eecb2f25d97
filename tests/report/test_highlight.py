"""Page HTML: example windows, the per-token error rows, the activation histogram."""

import re

import numpy as np
import pandas as pd

from ssae_core.report.highlight import error_rows_html, example_html, histogram_html


def test_error_rows_share_one_scale_and_escape_tokens():
    norms = pd.DataFrame(
        {
            "sae": ["GSAE"] * 3 + ["SSAE"] * 3,
            "token_index": [0, 1, 2] * 2,
            "error_norm": [0.0, 2.0, 4.0, 1.0, 1.0, 1.0],
        }
    )
    out = error_rows_html(norms, ["a", "<b>", "c"])
    gsae, ssae = out.split("SSAE</b>")
    assert (
        "rgba(201, 42, 42, 1.00)" in gsae and "rgba(201, 42, 42, 0.00)" in gsae
    )  # 4.0 is the max over every row
    assert ssae.count("rgba(201, 42, 42, 0.25)") == 3
    assert "&lt;b&gt;" in out and "<b>a" not in out and "to 4 (darkest red)" in out


def test_example_html_shades_active_tokens_only():
    out = example_html(["the", "quark"], [0.0, 2.0], scale=4.0)
    assert 'title="2.000"' in out and "rgba(232, 89, 12, 0.50)" in out and out.count("<span") == 1


def test_histogram_html_bars_are_proportional_over_the_occupied_bins():
    edges = np.logspace(-3, 3, 31)  # 5 bins per decade
    hist = np.zeros(30, int)
    hist[[12, 14, 15]] = [10, 40, 20]  # bins within 0.25..2.5
    out = histogram_html(hist, edges, "A <title>")
    heights = [float(h) for h in re.findall(r"height: ([0-9.]+)%", out)]
    assert len(heights) == 6, "bins 11..16: the occupied range with one empty bin each side"
    assert heights[0] == heights[2] == heights[5] == 0 and heights[3] == max(heights) > 0
    assert heights[1] == heights[3] / 4 and heights[4] == heights[3] / 2
    assert "activation 0.631–1: 40 tokens" in out and "A &lt;title&gt;" in out
    assert re.findall(r'translateX\(-50%\);">([0-9.]+)</span>', out) == ["1"], (
        "decade ticks inside the range only"
    )
    assert "activation (log scale)" in out and ">tokens<" in out


def test_histogram_html_of_a_silent_feature_says_so():
    assert "no activations" in histogram_html(np.zeros(30, int), np.logspace(-3, 3, 31), "H")


def _text(out: str) -> str:
    """What a reader sees of an HTML snippet: the text without tags."""
    return re.sub(r"<[^>]+>", "", out)


def _row_text(tokens: list[str]) -> str:
    norms = pd.DataFrame({"sae": "GSAE", "token_index": range(len(tokens)), "error_norm": 1.0})
    row = error_rows_html(norms, tokens).split("</b>")[1].split("<div")[0]
    return _text(row).strip()


def test_sub_word_pieces_join_without_spaces_and_words_with_them():
    """A BPE word split in pieces (" bos", "ons") reads as one word; word-level tokens get
    spaces. Both renderers follow the same rule."""
    pieces, words = [" the", " bos", "ons"], ["the", "bosons"]
    assert _row_text(pieces) == _row_text(words) == "the bosons"
    assert _text(example_html(pieces, [0, 1, 2], 2.0)) == " the bosons"
    assert _text(example_html(words, [0, 1], 2.0)) == "the bosons "
