"""Finetune: ERM or TERM on a selection, a sweep of sparsity values in one background job."""

import pandas as pd
import streamlit as st

from ssae_core.cli import launch
from ssae_core.evaluate import sae_set
from ssae_core.report import analysis_plots
from ssae_core.select.selection import SelectionSummary
from ssae_core.train.checkpoint import latest_live_log
from ssae_core.train.config import FinetuneConfig
from views import common

ws, base = common.page(
    "Finetune",
    "Starts from the GSAE: by default it keeps every GSAE latent and trains new ones on what the"
    " GSAE leaves unexplained (extension); or it finetunes every latent. Adam, unit-norm decoder"
    " rows, linear LR decay. One job trains the whole sweep; a cancelled run resumes from its"
    " checkpoint when launched again.",
)
RECIPE = FinetuneConfig.recipe()
selections = common.selections(ws, base)
if not selections:
    st.info("No selection yet: make one on the Select page.")
    st.page_link("views/select.py", label="Go to Select", icon=":material/travel_explore:")
    st.stop()
labels = {a.key: SelectionSummary.of(a).label for a in selections}
sel_key = st.selectbox("Selection", list(labels), format_func=labels.get, key="ft-sel")
c1, c2, c3 = st.columns(3)
objective = c1.radio(
    "Objective", ["erm", "term"], format_func=str.upper, horizontal=True, key="ft-obj"
)
TILT_MODES = {
    "ess": "effective sample share (scale-free)",
    "relative": "t on loss / batch mean (scale-free)",
    "absolute": "t on the raw loss (the paper's t)",
}
mode = c2.selectbox(
    "Tilt by",
    list(TILT_MODES),
    format_func=TILT_MODES.get,
    disabled=objective == "erm",
    key="ft-tilt-mode",
    help=(
        "TERM weighs each token's loss by softmax(t · loss). The paper's t = 500 is set against"
        " its loss scale: on losses of 100 or more it puts all weight on one token. A share of"
        " 0.2 means the weights are as concentrated as an even spread over 20% of the batch."
    ),
)
tilts = c2.text_input(
    "Effective sample shares" if mode == "ess" else "Tilts t",
    {"ess": "0.5, 0.2, 0.05, 0.01", "relative": "1", "absolute": "500"}[mode],
    disabled=objective == "erm",
    key=f"ft-tilt-{mode}",
    help=(
        "One value, or several (comma-separated): a tilt sweep, one curve per value, trained in"
        " the same job. Shares run from ERM-like (near 1) to near the worst token only (0.01)."
    ),
)
steps = c3.number_input(
    "Steps", 10, 100_000, RECIPE.steps if not common.quick() else 40, key="ft-steps"
)
arch = base.sae.cfg.architecture()
meaning = {
    "standard": "L1 coefficient",
    "jumprelu": "L0 coefficient",
    "topk": "k, active features per token",
}.get(arch, "sparsity value")
l1 = st.text_input(
    f"Sparsity values (one SSAE each; {meaning} for this {arch} GSAE)",
    "3.5,5,8" if base.data is not None else "",
    key="ft-l1",
    help=(
        "The demo world's GSAE was trained at 5 (values around it give SSAEs near its L0; with"
        " extension, a larger value keeps the new latents rarer). For another GSAE start near"
        " the value it was trained with."
    ),
)

RECIPES = {
    "extend": "extend: keep the GSAE, add new latents",
    "finetune": "finetune every latent",
}
c4, c5, c6 = st.columns(3)
recipe = c4.radio(
    "Capacity for the subdomain",
    list(RECIPES) if arch != "topk" else ["finetune"],
    format_func=RECIPES.get,
    key="ft-recipe",
    help=(
        "Extension (SAE Boost) trains only new latents, on what the GSAE leaves in its residual:"
        " the GSAE's own latents stay exactly as they are, so nothing general is forgotten. Each"
        " new latent starts on a cluster of the GSAE's worst residual errors on the selection."
        " On the demo world (300K tokens, 2,000 steps, 3 seeds; BENCHMARKS.md) 512 new latents"
        " found 65% of the physics and 59% of the medicine tail and rare concepts a linear probe"
        " finds (the GSAE: 3%); finetuning every latent found fewer and doubled L0 on general"
        " text. A TopK GSAE cannot be extended (its k would be shared)."
    ),
)
new_latents = c5.number_input(
    "New latents",
    16,
    1 << 16,
    RECIPE.extend,
    step=64,
    disabled=recipe != "extend",
    key="ft-extend",
)
AIMS = {"clusters": "clusters of the GSAE's errors", "tokens": "single badly fit tokens"}
aim = c5.selectbox(
    "New latents start on",
    list(AIMS),
    index=list(AIMS).index(RECIPE.aim),
    format_func=AIMS.get,
    disabled=recipe != "extend",
    key="ft-aim",
    help=(
        "Clusters: each new latent starts at the centre of a group of tokens the GSAE gets wrong"
        " the same way (a k-means of the residual errors of the selection's worst-fit quarter)."
        " Tokens: each starts at one badly fit token's error, as SAE Boost does. On the demo"
        " world clusters found 59% of the medicine tail and rare concepts a probe finds, against"
        " 43% (BENCHMARKS.md)."
    ),
)
reaim = c6.checkbox(
    "Re-aim silent latents",
    key="ft-reaim",
    disabled=recipe == "extend",
    help=(
        "At the start and every 250 steps, latents silent on the selection are pointed at tokens"
        " the SAE reconstructs badly, with a bias that keeps L0 near its value."
    ),
)
quick_run = ["--batch-tokens", "256", "--lr", "1e-3", "--decay-steps", "10"]
extra = quick_run if common.quick() else ["--decay-steps", str(max(1, int(steps) // 5))]
if recipe == "extend":
    extra = [*extra, "--extend", str(int(new_latents)), "--aim", aim]
else:  # plain finetuning: every latent, at the learning rate (and re-aiming) measured for it
    extra = [*extra, "--extend", "0", "--aim", "tokens"]
    extra += [] if common.quick() else ["--lr", "3e-4"]
    if reaim:
        extra = [*extra, "--reaim", "--resample-every", "250"]
job = launch.finetune(
    base.spec,
    f"selection/{sel_key}",
    objective,
    l1,
    steps,
    ",".join(v.strip() for v in tilts.split(",") if v.strip()) or "0",
    mode,
    extra=extra,
)
device = job.resource.split(":", 1)[1]


def live_curves():
    log = latest_live_log(ws)
    if log is not None and len(log):
        st.plotly_chart(analysis_plots.training_curves(log), key="ft-live")


common.launch_button(
    ws,
    job,
    "Finetuning",
    f"Train on {device} (background job)",
    live_curves,
    disabled=not l1.strip(),
    help=None if l1.strip() else f"Give one or more {meaning} values first.",
)

st.subheader("Trained SSAEs")
ssaes = common.ssae_artifacts(ws, base)
if not ssaes:
    st.info("None yet.")
    st.stop()
rows = [
    {
        "key": a.key,
        "curve": curve,
        "mean ESS": ess,
        "steps": a.manifest["config"]["steps"],
        "sparsity": ", ".join(f"{v:g}" for v in a.manifest["config"]["sparsity"]),
        "new latents": a.manifest["config"].get("extend", 0),
        "train tokens": a.summary["train_tokens"],
    }
    for a in ssaes
    for curve, ess in sae_set.curve_ess(ws, [a]).items()
]
st.dataframe(pd.DataFrame(rows), hide_index=True)
pick = st.selectbox("Show", [a.key for a in ssaes], key="ft-show")
art = next(a for a in ssaes if a.key == pick)
st.plotly_chart(
    analysis_plots.training_curves(pd.read_parquet(art.file("log.parquet"))), key="ft-curves"
)
st.dataframe(pd.read_parquet(art.file("val.parquet")), hide_index=True)
