"""Compare: the GSAE, an SSAE and a tilted SSAE side by side on every measure (the demo page)."""

import streamlit as st

from ssae_core.analysis import specialization
from ssae_core.cli import launch
from ssae_core.evaluate.sae_set import curve_ess
from ssae_core.report.html import (
    COMPARISON_FIGURES,
    ERROR_TOKENS,
    FORGETTING_TITLE,
    GAINED_TITLE,
    to_html,
)
from views import common

ws, base = common.page("Compare GSAE · SSAE · tilted SSAE")
cfg = common.demo_comparison_config()
defaults = common.comparison_defaults(ws, base)

if base.data is not None and len(defaults) == 1:
    st.markdown(
        f"The demo comparison specializes the GSAE on a **{cfg.method}** selection for"
        f" **{cfg.subdomain}** ({cfg.token_budget:,} tokens from the retrieval pool) with the"
        f" default recipe: it keeps every GSAE latent and trains {cfg.extend} new ones on what the"
        f" GSAE leaves unexplained, {cfg.steps:,} steps, with ERM and with TERM (tilted to an"
        f" effective sample share of {cfg.target_ess:g}), {len(cfg.sparsity)} L1 values each."
        f" Then it evaluates every SAE on {cfg.subdomain}'s test and OOD splits and on general"
        " text: one job (about 20 minutes on two CPU cores), and this page shows the results."
    )
    common.launch_button(
        ws,
        launch.demo_ssaes(base.spec, cfg.subdomain, cfg.method),
        "Demo comparison",
        "Build the demo comparison (background job)",
    )

saes = common.pick_saes(
    common.named_saes(ws, base),
    "compare-saes",
    defaults,
    help=(
        "Default: the GSAE and both sweeps; the figures after the Pareto curves compare, per sweep,"
        " the SSAE closest to the GSAE's L0."
    ),
)
splits = common.require_splits(base, ws)
split_names = st.multiselect(
    "Test splits (the first is in-domain)",
    splits,
    format_func=common.split_label,
    default=common.default_splits(splits, cfg.subdomain),
    key="compare-splits",
)
if not saes or not split_names or not common.evaluation_gate(ws, base, saes, split_names):
    st.stop()

result = common.comparison(ws, base, saes, split_names)
if "gained_concepts" in result.tables:
    st.subheader(GAINED_TITLE)
    gained = result.tables["gained_concepts"]
    if gained.empty:
        st.info(
            "No SSAE at matched L0 has a latent that detects a ground-truth concept the GSAE"
            " misses (held-out F1 ≥ 0.5 against < 0.5)."
        )
    else:
        st.dataframe(gained, hide_index=True)
    st.caption(
        "Per SSAE at matched L0: the concepts no GSAE latent detects with held-out F1 ≥ 0.5 (its"
        " best F1 is gsae_f1) that one of its latents does (feature, f1; threshold fit on one half"
        " of the test tokens, scored on the other). *novel_latent*: its direction is not in the"
        " GSAE. The example is its top context on the in-domain split, active tokens in << >>."
    )
if "specialization_forgetting" in result.tables:
    st.subheader(FORGETTING_TITLE)
    kept = result.tables["specialization_forgetting"]
    if not (kept.head_mid[kept.sae == "GSAE"] > 0).any():
        st.info(
            "The GSAE detects none of this world's general head and mid concepts (the quick world"
            " is a structure check), so forgetting cannot be read here: every point sits at 0."
        )
    left, right = st.columns([3, 2])
    left.plotly_chart(result.figures["specialization_forgetting"], key="spec-forget")
    right.dataframe(kept, hide_index=True)
    right.caption(
        "Specializing means detecting the subdomain's tail and rare concepts (up: the share of"
        " those a linear probe on the same activations finds); forgetting means losing the"
        " general head and mid concepts the GSAE detects (left), or firing more on general text"
        " (general L0, when general_test is among the test splits). Extension keeps every GSAE"
        " latent as it was, so it cannot lose a general concept."
    )
sweeps = [ws.get(r) for r in dict.fromkeys(s.ref.split("#")[0] for s in saes if "#" in s.ref)]
tilted = {g: e for g, e in curve_ess(ws, sweeps).items() if " TERM " in g}
if tilted:
    st.caption(
        "What each tilt did: mean effective sample share of its token weights over training"
        " (1 = ERM's even weights, 1/batch = one token): "
        + "; ".join(f"{g} → {e:.3g}" for g, e in tilted.items())
    )
st.dataframe(
    result.metrics[
        [
            "split",
            "label",
            "l0",
            "fvu",
            "dead_fraction",
            "ce_loss_recovered",
            "ppl_spliced",
            "ppl_vs_gsae",
            "kl_div_score",
            "active_latents",
        ]
    ],
    hide_index=True,
)
common.download_csv(result.metrics, "compare-metrics")
left, right = st.columns(2)
for i, name in enumerate(n for n in result.figures if n.startswith("pareto_")):
    (left if i % 2 == 0 else right).plotly_chart(result.figures[name], key=name)
for name in COMPARISON_FIGURES:
    if name in result.figures:
        st.plotly_chart(result.figures[name], key=name)
    if name == "error_tail":
        st.dataframe(result.tables["error_tail"], hide_index=True)
        st.caption(
            "Squared error ‖x − x̂‖² per token of the in-domain split's first"
            f" {ERROR_TOKENS:,} tokens, for the SAEs at matched L0: quantiles and the mean of the"
            " worst 1%. TERM weighs the worst tokens up, so it should lower the top of this"
            " distribution."
        )


def open_in_features(latents, split: str) -> None:
    """A row picked in the latent table opens that latent in the Features browser."""
    rows = st.session_state["changed-latents"]["selection"]["rows"]
    if rows:
        row = latents.iloc[rows[0]]
        st.session_state.update(
            {
                "feat-sae": row.label,
                "feat-split": split,
                "feat-id": int(row.feature),
                "feat-query": "",
                "feat-tab": "Feature browser",
                "open-features": True,
            }
        )


if "specialization" in result.tables:
    st.subheader("What specialization changed, latent by latent")
    st.caption(
        "Each SSAE at matched L0 against the GSAE it was finetuned from. A latent is *novel* when"
        " its decoder direction's largest cosine to any GSAE latent is below"
        f" θ = {specialization.ChangeConfig().theta:g} (a direction"
        " the GSAE does not have), a *reconstruction* latent otherwise (kept or refined); drift is"
        " the cosine to the same index in the GSAE. Counts: tokens fired on in"
        f" {common.split_label(split_names[0])}."
    )
    st.dataframe(result.tables["specialization"], hide_index=True)
    st.plotly_chart(result.figures["max_cos"], key="max_cos")
    if "novel_concepts" in result.tables:
        st.markdown("**Ground-truth concepts the novel latents detect** (held-out F1 ≥ 0.5)")
        novel = result.tables["novel_concepts"]
        if novel.empty:
            st.info("No novel latent is the best detector of a concept at F1 ≥ 0.5.")
        else:
            st.dataframe(novel, hide_index=True)
    left, right = st.columns(2)
    group = left.selectbox("SSAE", list(result.latents.group.unique()), key="changed-group")
    show = right.radio(
        "List",
        ["novel", "changed"],
        format_func={"novel": "novel latents", "changed": "most changed (lowest drift)"}.get,
        horizontal=True,
        key="changed-show",
    )
    picked = specialization.ranked(result.latents[result.latents.group == group], show).head(50)
    st.caption("Click a row to open that latent's examples in Features.")
    st.dataframe(
        picked.drop(columns=["group", "label"]),
        hide_index=True,
        key="changed-latents",
        on_select=lambda: open_in_features(picked, split_names[0]),
        selection_mode="single-row",
    )
    if st.session_state.pop("open-features", False):
        st.switch_page("views/features.py")
st.download_button(
    "Download the HTML report",
    lambda: to_html(result).encode(),
    file_name="ssae-comparison.html",
    mime="text/html",
)
