"""Error norms: per-token SAE error for a text, the linear / nonlinear split and the dark-matter
fits."""

import numpy as np
import streamlit as st

from ssae_core.analysis import dark_matter as dm
from ssae_core.evaluate.features import top_features_grid
from ssae_core.report import analysis_plots, highlight
from ssae_core.select import retrieval
from views import common

ws, base = common.page(
    "Error norms",
    "Try your own text: per-token ‖x − x̂‖ and top features of each SAE, and the SAE error's"
    " linear and nonlinear parts on a split (Engels et al.).",
)
saes = common.choose_saes(ws, base, "err-saes", most=3)
split = st.selectbox(
    "Test split (documents to pick from; the tokens the dark-matter fits use)",
    common.require_splits(base, ws),
    format_func=common.split_label,
    key="err-split",
)
docs = common.split_refs(base, [split])[0].docs
if not saes:
    st.stop()


@st.cache_data(show_spinner="Running the model…", max_entries=32)
def activations(doc_tokens: tuple, max_tokens: int) -> dm.TokenActivations:
    return dm.first_tokens(base, [np.array(t) for t in doc_tokens], max_tokens)


@st.cache_data(show_spinner="Fitting (held-out R²)…", max_entries=16)
def fits(refs: tuple, split: str, limit: int) -> dm.Analysis:
    chosen = {s.label: s.sae for s in common.named_saes(ws, base) if s.ref in refs}
    acts = activations(tuple(tuple(int(t) for t in d) for d in docs), limit)
    return dm.analyze(chosen, acts.x, acts.token_ids)


def per_token_error() -> None:
    """Each chosen SAE's error norm on every token of a text, and the tokens each SAE fixed or
    broke."""
    doc_index = st.number_input("Document", 0, len(docs) - 1, 0, key="err-doc")
    text = st.text_area(
        "Text (edit it or paste your own)",
        base.tokenizer.decode(docs[int(doc_index)]),
        height=100,
        key=f"err-text-{split}-{doc_index}",
    )
    tokens = retrieval.tokenize([text], base.tokenizer, base.model.cfg.n_ctx)[0]
    x, ids, _ = activations((tuple(int(t) for t in tokens),), max(1, len(tokens)))
    if not len(ids):
        st.warning("The text has no tokens the model can read; type some words.")
        return
    named = {s.label: s.sae for s in saes}
    norms = dm.error_norms(named, x)
    words = [base.tokenizer.decode([i]) for i in ids]
    value = st.radio(
        "Colour by",
        ["error_norm", "relative_error"],
        horizontal=True,
        format_func=lambda v: v.replace("_", " "),
        key="err-value",
    )
    st.html(highlight.error_rows_html(norms, words, value))
    common.download_csv(
        norms.assign(token=norms.token_index.map(dict(enumerate(words)))), "error-norms"
    )
    with st.expander("Top features per token"):
        table = top_features_grid(named, x)
        st.dataframe(table.assign(token=words)[["token", *named]], hide_index=True, height=300)
        st.caption(
            "Each SAE's three most active features on the token: id (activation). Open one on the"
            " Features page."
        )
    if "GSAE" in named and len(named) > 1:
        st.subheader("Tokens each SAE fixed or broke most vs the GSAE")
        st.table(
            dm.fixed_and_broken(norms, words, "GSAE", k=5)
            .style.format(precision=3)
            .hide(axis="index")
        )  # small: static HTML draws faster than a grid


def dark_matter() -> None:
    """Held-out R² of linear predictions of each SAE's error on the split (Engels et al.)."""
    st.caption(
        "How much of each SAE's error a linear map of the activation predicts: held-out R² on the"
        " split's tokens."
    )
    limit = st.slider("Tokens used for the fits", 1000, 50_000, 8000, step=1000, key="err-limit")
    result = fits(tuple(s.ref for s in saes), split, limit)
    st.table(result.r2.style.format(precision=3).hide(axis="index"))
    st.plotly_chart(analysis_plots.fvu_breakdown(result.r2), key="err-fvu")
    if len(result.cross):
        st.table(result.cross.style.format(precision=3).hide(axis="index"))
        pair = result.cross.iloc[0]
        st.plotly_chart(
            analysis_plots.cross_scatter(result.tokens, pair["from"], pair["to"], pair["r2"]),
            key="err-cross",
        )


tab_tokens, tab_dark = st.tabs(
    ["Per-token error", "Dark matter on the split"], key="err-tab", on_change="rerun"
)  # only the open tab runs
if tab_tokens.open:
    with tab_tokens:
        per_token_error()
if tab_dark.open:
    with tab_dark:
        dark_matter()
