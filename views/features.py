"""Features: activation counts, a map of decoder directions, and the feature browser."""

import numpy as np
import pandas as pd
import streamlit as st

from ssae_core.analysis.autointerp.backends import (
    AutointerpError,
    ClaudeBackend,
    OfflineBackend,
    find_api_key,
)
from ssae_core.analysis.autointerp.examples import top_windows
from ssae_core.analysis.autointerp.feature import explain_and_score, explanation_scores
from ssae_core.analysis.autointerp.run import stored_results
from ssae_core.analysis.specialization import ChangeConfig, latent_changes, ranked
from ssae_core.cli import launch
from ssae_core.evaluate.evaluation import find_eval, load_features, split_docs
from ssae_core.evaluate.features import (
    HIST_EDGES,
    count_differences,
    count_rank,
    decoder_points,
    search_features,
)
from ssae_core.report import analysis_plots, plots
from ssae_core.report.highlight import example_html, histogram_html
from ssae_core.report.neuronpedia import ExportConfig, source_for, zipped
from views import common

ws, base = common.page("Features")
saes = common.named_saes(ws, base)
left, right = st.columns(2)
label = left.selectbox("SAE", [s.label for s in saes], key="feat-sae")
split = right.selectbox(
    "Split", common.require_splits(base, ws), format_func=common.split_label, key="feat-split"
)
sae = next(s for s in saes if s.label == label)
gsae = saes[0]
if not common.evaluation_gate(ws, base, [sae, gsae], [split]):
    st.stop()
(split_ref,) = common.split_refs(base, [split])
art = find_eval(ws, base, sae.ref, split_ref)
gsae_art = find_eval(ws, base, gsae.ref, split_ref)


@st.cache_data(show_spinner=False)
def table(path: str) -> pd.DataFrame:
    return load_features(ws.open(path))


def sae_by_ref(ref: str):
    return next(x for x in common.named_saes(ws, base) if x.ref == ref).sae


@st.cache_data(show_spinner="Mapping decoder directions (UMAP)…")
def decoder_map(ref: str, path: str) -> pd.DataFrame:
    return decoder_points(sae_by_ref(ref).W_dec, table(path).frequency.to_numpy())


def open_clicked_feature() -> None:
    """A click on the decoder map opens that feature in the browser tab."""
    points = st.session_state["decoder-map"]["selection"]["points"]
    if points and points[0].get("customdata") is not None:
        data = points[0]["customdata"]
        st.session_state.update(
            {
                "feat-id": int(data if np.isscalar(data) else data[0]),
                "feat-query": "",
                "feat-tab": "Feature browser",
            }
        )


feats = table(str(art.path))


def neuronpedia_export() -> None:
    """Launch this SAE's Neuronpedia export as a job; once written, offer it as a zip."""
    out = ws.root / "exports" / "neuronpedia"
    is_gsae = sae.ref == gsae.ref
    st.caption(
        "The layout a self-hosted Neuronpedia imports: release, model, source set and source"
        " records, then every feature (max activation, firing fraction, activation histogram,"
        " logit lens), its top 10 examples with per-token values and any stored explanations."
    )
    job = launch.neuronpedia_export(base.spec, sae.ref, is_gsae, split, str(out))
    common.launch_button(ws, job, "Neuronpedia export", "Export (background job)")
    folder = source_for(base, is_gsae, ExportConfig(), out).out
    state = job.status(ws)
    if state is not None and state.state == "done" and folder.is_dir():
        st.download_button(
            f"Download {folder.parent.name}/{folder.name}.zip",
            lambda: zipped(folder),
            file_name=f"neuronpedia-{folder.parent.name}-{folder.name}.zip",
            mime="application/zip",
        )


with st.expander("Export this SAE for Neuronpedia"):
    neuronpedia_export()
tab_counts, tab_map, tab_browse = st.tabs(
    ["Activation counts", "Decoder map", "Feature browser"], key="feat-tab", on_change="rerun"
)  # only the open tab runs
if tab_counts.open:
    with tab_counts:
        counts = {label: feats["count"].to_numpy()}
        if sae.ref != gsae.ref:
            counts["GSAE"] = table(str(gsae_art.path))["count"].to_numpy()
        colors = plots.palette(counts)
        st.plotly_chart(plots.count_rank(count_rank(counts), colors), key="count-rank")
        if len(counts) > 1:
            st.plotly_chart(
                plots.count_differences(
                    {label: count_differences(counts[label], counts["GSAE"])}, "GSAE", colors
                ),
                key="count-diff",
            )
if tab_map.open:
    with tab_map:
        st.caption("Click a point to open that feature in the browser.")
        st.plotly_chart(
            analysis_plots.decoder_map(decoder_map(sae.ref, str(art.path))),
            key="decoder-map",
            on_select=open_clicked_feature,
            selection_mode="points",
        )


@st.cache_data(show_spinner="Comparing decoder directions with the GSAE…", max_entries=16)
def changes_against_gsae(ref: str, path: str, gsae_path: str) -> pd.DataFrame:
    """This SAE's latents against the GSAE's (``specialization.latent_changes``)."""
    counts = (table(gsae_path)["count"].to_numpy(), table(path)["count"].to_numpy())
    return latent_changes(sae_by_ref(gsae.ref).W_dec, sae_by_ref(ref).W_dec, ChangeConfig(), counts)


LISTS = {
    "most active": None,
    "novel in this SSAE": "novel",
    "most changed": "changed",
}


@st.cache_data(show_spinner=False, max_entries=256)
def windows_for(ref: str, path: str, j: int):
    """Feature ``j``'s top activating windows (the browser's examples)."""
    return top_windows(
        base, sae_by_ref(ref), split_docs(ws.open(path)), table(path).set_index("feature"), j
    )


@st.fragment
def browser():
    """The feature browser: switching features reruns only this part of the page."""
    results = {r["feature"]: r for r in stored_results(ws, [sae.ref]) if r.get("status") == "ok"}
    tok = base.tokenizer
    query = st.text_input(
        "Search: a feature id, a token, or words of an explanation", key="feat-query"
    )
    if query.strip().isdigit():
        st.session_state["feat-id"] = int(query)
    listing = None
    if sae.ref != gsae.ref:
        listing = LISTS[
            st.radio(
                "List",
                list(LISTS),
                horizontal=True,
                key="feat-list",
                help="Against the GSAE: a latent is novel when its decoder direction's largest"
                f" cosine to any GSAE latent is below {ChangeConfig().theta:g}; most changed ="
                " lowest cosine to the same GSAE latent (drift).",
            )
        ]
    explanations = {j: r.get("explanation", "") for j, r in results.items()}
    if listing and not query.strip():
        changed = changes_against_gsae(sae.ref, str(art.path), str(gsae_art.path))
        matches = ranked(changed, listing).feature.head(50).tolist()
    else:
        matches = search_features(feats, query, lambda t: tok.decode([t]), explanations)
    if not matches:
        st.warning(
            "No latent of this SAE that fires on the split is novel against the GSAE."
            if listing == "novel" and not query.strip()
            else "No feature matches; try another token or an id."
        )
        return
    current = st.session_state.get("feat-id")
    options = (
        [current] if current is not None and current not in matches and current < len(feats) else []
    ) + matches
    if current in options:  # a map click or an id search opens that feature
        st.session_state["feat-pick"] = current
    feature = st.selectbox(
        "Feature",
        options,
        key="feat-pick",
        format_func=lambda j: (
            f"{j}  (fires on {int(feats.loc[j, 'count'])} tokens)"
            + (f" — {results[j]['explanation'][:60]}" if j in results else "")
        ),
    )
    st.session_state["feat-id"] = feature
    row = feats.loc[feature]
    c1, c2, c3 = st.columns(3)
    c1.metric(
        "Tokens fired on",
        f"{int(row['count']):,}",
        help=f"{row.frequency:.2%} of the split's tokens",
    )
    c2.metric("Mean activation", f"{row.mean_act:.3f}")
    c3.metric("Max activation", f"{row.max_act:.3f}")
    st.markdown(
        "**Logit lens** · promotes: "
        + ", ".join(f"`{tok.decode([int(t)]).strip()}`" for t in row.lens_top)
        + "  \n· suppresses: "
        + ", ".join(f"`{tok.decode([int(t)]).strip()}`" for t in row.lens_bottom)
    )
    if row["count"] == 0:
        st.info("This feature never fires on this split.")
        return

    result = results.get(int(feature))
    if result:
        more = explanation_scores(ws, sae.ref, result)
        st.markdown(
            f"**Explanation** ({result['backend']}): {result['explanation']}  \nF1"
            f" {result['f1']:.2f} · precision {result['precision']:.2f} · recall"
            f" {result['recall']:.2f}"
            + "".join(f" · {name} {value:.2f}" for name, value in more.items())
        )
    backend_name = "Claude" if find_api_key() else "offline baseline"
    if st.button(f"Explain & score ({backend_name})", key="explain-one"):
        try:
            backend = ClaudeBackend() if find_api_key() else OfflineBackend()
            with st.spinner("Explaining and scoring…"):
                explain_and_score(ws, base, sae, split_ref, int(feature), backend)
            st.rerun()
        except AutointerpError as exc:
            st.error(str(exc))
    st.markdown("**Top activating examples** (shade = activation; hover for the value)")
    windows = windows_for(sae.ref, str(art.path), int(feature))
    st.html(
        f'<div data-feature="{int(feature)}">'
        + "".join(
            example_html(list(ex.tokens), list(ex.acts), float(row.max_act)) for ex in windows
        )
        + "</div>"
    )
    st.html(
        histogram_html(
            row["hist"], HIST_EDGES, "Activation histogram on the split (tokens where it fires)"
        )
    )


if tab_browse.open:
    with tab_browse:
        browser()
