"""Home: what the product does, the base model (demo world, SAELens release, local directories), the
workspace."""

import pandas as pd
import streamlit as st

from ssae_core.cli import launch
from ssae_core.demo.data import DemoWorld
from ssae_core.demo.report import demo_summary
from ssae_core.evaluate.concepts import PROBE, recall_by_kind
from ssae_core.infra import executor, jobs
from ssae_core.infra.errors import LoadError
from ssae_core.models.base import Base, BaseSpec, releases, save_spec
from ssae_core.report import plots
from ssae_core.select import uploads
from ssae_core.train import gsae
from views import common

st.title("SSAE Studio")
st.markdown(
    "General sparse autoencoders miss rare concepts. SSAE Studio expands a few seed texts about a"
    " subdomain into a training set by retrieval, specializes a general SAE on it (ERM or tilted"
    " ERM), and shows what the specialized SAE now sees that the general one did not."
)
st.caption(
    "The default recipe keeps every latent of the general SAE as it is and trains new latents on"
    " what it leaves unexplained in the subdomain (extension, after SAE Boost): the SSAE gains the"
    " subdomain's rare concepts without forgetting general ones, which finetuning every latent"
    " does (it doubles how often the SAE fires on general text). On the demo world: 512 new"
    " latents, each started on a cluster of the errors the general SAE makes on the subdomain,"
    " 2,000 steps on 300K tokens, about 3 minutes per SSAE on two CPU cores."
)

ws = common.workspace()
spec = common.base_spec(ws)
SOURCES = {
    "demo": "Demo world (built here, no download)",
    "release": "SAELens release (downloads from the Hugging Face Hub)",
    "local": "Local directories",
}


@st.cache_resource(show_spinner=False)
def release_directory() -> dict:
    return releases()


def spec_form(spec: BaseSpec) -> BaseSpec:
    """Widgets for a base choice, filled in with ``spec``; returns what they describe."""
    source = st.radio(
        "Source",
        list(SOURCES),
        index=list(SOURCES).index(spec.source),
        format_func=SOURCES.get,
        key="base-source",
    )
    if source == "release":
        directory = release_directory()
        names, default = sorted(directory), spec.release or "gpt2-small-res-jb"
        release = st.selectbox(
            "Release",
            names,
            index=names.index(default) if default in names else 0,
            key="base-release",
        )
        model, ids = directory[release]
        sae_id = st.selectbox(
            "SAE", ids, index=ids.index(spec.sae_id) if spec.sae_id in ids else 0, key="base-sae-id"
        )
        name = st.text_input(
            "TransformerLens model",
            spec.model_name or model,
            help="The model the release was trained on, unless you name another.",
            key="base-model-name",
        )
        return BaseSpec(
            source="release",
            release=release,
            sae_id=sae_id,
            model_name="" if name.strip() == model else name.strip(),
        )
    if source == "local":
        model_dir = st.text_input(
            "Model directory",
            spec.model_dir,
            help=(
                "This project's format (tl_config.json), a Hugging Face model directory"
                " (config.json) or a .gguf file, of an architecture TransformerLens supports."
            ),
            key="base-model-dir",
        )
        sae_dir = st.text_input(
            "SAE directory",
            spec.sae_dir,
            help=(
                "SAELens format (cfg.json + sae_weights.safetensors, what sae.save_model writes) or"
                " an EleutherAI sparsify checkpoint (cfg.json + sae.safetensors, in a folder named"
                " after its layer, e.g. layers.6)."
            ),
            key="base-sae-dir",
        )
        if model_dir.strip():
            sae_dir = gsae_trainer(model_dir.strip()) or sae_dir
        return BaseSpec(source="local", model_dir=model_dir.strip(), sae_dir=sae_dir.strip())
    return BaseSpec(quick=common.quick())


def gsae_trainer(model_dir: str) -> str | None:
    """No SAE for this model? A background job trains one on an uploaded corpus; returns the
    directory of a GSAE trained here when one is picked."""
    trained = gsae.trained_for(ws, model_dir)
    st.caption("No SAE for this model? Train a general SAE (GSAE) here on an uploaded corpus.")
    corpora = uploads.uploaded(ws, "corpus")
    if not corpora:
        st.info("Upload a general corpus on Seeds & data first.")
    else:
        c1, c2, c3, c4, c5 = st.columns(5)
        corpus = c1.selectbox("Corpus", corpora, format_func=common.split_label, key="gsae-corpus")
        arch = c2.selectbox("Architecture", ["standard", "topk", "jumprelu"], key="gsae-arch")
        sparsity = c3.number_input(
            "Sparsity (L1 coef, k or L0 coef)",
            0.0,
            value=32.0 if arch == "topk" else 5.0,
            key=f"gsae-sparsity-{arch}",
        )
        tokens = c4.number_input("Tokens", 1000, 100_000_000, 200_000, key="gsae-tokens")
        steps = c5.number_input("Steps", 10, 1_000_000, 2000, key="gsae-steps")
        job = launch.gsae_train(model_dir, corpus, arch, sparsity, tokens, steps)
        common.launch_button(ws, job, "GSAE training", "Train a GSAE (background job)")
    if not trained:
        return None
    pick = st.selectbox(
        "GSAEs trained here for this model",
        [None, *trained],
        format_func=lambda a: "(type a directory above)" if a is None else _gsae_label(a),
        key="gsae-pick",
    )
    return None if pick is None else str(pick.path / gsae.SAE_SUBDIR)


def _gsae_label(art) -> str:
    (val,) = art.summary["val"]
    return (
        f"{art.key}: {art.summary['architecture']}, {art.summary['d_sae']} latents, L0"
        f" {val['l0']:.1f}, FVU {val['fvu']:.3f}"
    )


def demo_overview(world: DemoWorld) -> None:
    """The demo world's corpus, LM and GSAE, and concept recall by frequency."""
    summary = demo_summary(world, 0)
    report, c = summary.report, summary.corpus
    lm, g, m = report.lm, report.gsae, report.gsae.metrics
    st.subheader("Demo world")
    cols = st.columns(5)
    cols[0].metric("Documents", f"{c.documents:,}")
    cols[1].metric("Concepts", c.concepts)
    cols[2].metric(
        "LM held-out CE",
        f"{lm.heldout_ce:.2f} nats",
        help="Next-token cross-entropy on held-out general text.",
    )
    cols[3].metric("GSAE L0", f"{m.l0:.1f}", help="Mean number of active GSAE features per token.")
    cols[4].metric(
        "GSAE CE loss recovered",
        f"{m.ce_loss_recovered:.3f}",
        help="(CE zero-ablated − CE spliced) / (CE zero-ablated − CE clean).",
    )
    st.caption(
        f"LM CE is {lm.ce_ratio_to_unigram:.0%} of a unigram model's ({lm.unigram_ce:.2f}"
        f" nats). GSAE: {g.d_sae} features at `{summary.hook_name}`, explained variance"
        f" {m.explained_variance:.3f}, {m.dead_fraction:.1%} dead, CE {m.ce_clean:.3f} →"
        f" {m.ce_spliced:.3f} spliced in."
        + "".join(
            f" On {split}, {cov.covered} of its {cov.tokens} rarest tokens are in the logit-lens"
            " top 10 of a GSAE feature."
            for split, cov in report.rare_token_coverage.items()
        )
    )
    steps = summary.step_seconds
    st.caption(
        f"Built on this machine in {sum(steps.values()):,.0f} s: "
        + ", ".join(f"{step} {sec:,.0f} s" for step, sec in steps.items())
        + ". Building the demo comparison on Compare (selection, two sweeps, evaluation) takes"
        " about three minutes more on two CPU cores; later launches reuse everything."
    )

    recall = recall_by_kind(pd.DataFrame(report.recall_by_bucket))
    series = {name: name for name in ("GSAE", PROBE)}
    st.plotly_chart(plots.concept_recall_bars(recall, series), key="recall")
    st.caption(
        "A concept counts as recalled when one SAE feature, with an activation threshold chosen"
        " on half of the test tokens, detects it with F1 ≥ 0.5 on the other half: at the token"
        " level (the token names the concept) or the context level (the concept was mentioned"
        " earlier in the document). The linear probe on the raw activations shows the concept is"
        " there in the model; the gap to the GSAE is what a specialized SAE can close."
    )


def base_overview(base: Base) -> None:
    """A release's or local base's model size, GSAE width and hook."""
    about = base.describe()
    st.subheader(f"Base model: {about['model']}")
    cols = st.columns(5)
    cols[0].metric("Layers", about["layers"])
    cols[1].metric("d_model", about["d_model"])
    cols[2].metric("Vocabulary", f"{about['vocabulary']:,}")
    cols[3].metric("Context", f"{about['context']:,} tokens")
    cols[4].metric("GSAE features", f"{about['d_sae']:,}", help=f"{about['architecture']} SAE")
    st.caption(
        f"The GSAE reads `{about['hook']}`. Next: upload seeds, a corpus and test sets on Seeds &"
        " data."
    )


def build_demo() -> None:
    """Start the demo build (first launch) and follow it; reruns the app when it is done."""
    st.subheader("Building the demo world")
    st.caption(
        "First launch: a synthetic corpus, a tiny language model and a general SAE are built on"
        " this machine (about fifteen minutes on two cores, once)."
    )
    job = launch.demo_build(common.quick())
    state = job.status(ws)
    if state is not None and state.state == "done":  # the world's cached "not built" is stale
        common.forget_demo()
        st.rerun()
    if state is None:
        job.launch(ws)
        st.rerun()
    common.launch_button(ws, job, "Demo build", "Try again")


with st.expander(f"Base model and GSAE: {SOURCES[spec.source].split(' (')[0]} (change)"):
    chosen = spec_form(spec)
    if chosen != spec and st.button("Use this base", type="primary", key="base-use"):
        try:
            if chosen.source != "demo":
                with st.spinner("Loading the model and the SAE, and checking they fit together…"):
                    common.load_base(ws, chosen)
            save_spec(ws, chosen)
            st.rerun()
        except LoadError as exc:
            st.error(str(exc))

executor_cfg = executor.setting(ws)
where = executor_cfg.executor + (
    f" at {executor_cfg.ray_address}"
    if executor_cfg.executor == "ray" and executor_cfg.ray_address
    else ""
)
with st.expander(f"Where training runs: {where} (change)"):
    st.caption(
        "Finetuning sweeps (the Finetune page, the Compare page's SSAEs) run in the job's own"
        " process (local) or as Ray tasks with a GPU each (ray). With a Ray cluster, the"
        f" workspace (`{ws.root}`) must be on a filesystem every node mounts at this same path."
    )
    kinds = ["local", "ray"]
    kind = st.radio(
        "Executor",
        kinds,
        index=kinds.index(executor_cfg.executor),
        horizontal=True,
        key="executor-kind",
    )
    address = st.text_input(
        "Ray address",
        executor_cfg.ray_address,
        placeholder="empty: a Ray instance on this machine; else HOST:6379 or ray://HOST:10001",
        disabled=kind == "local",
        key="executor-address",
    )
    chosen_executor = executor.ExecutorConfig(kind, address.strip() if kind == "ray" else "")
    if chosen_executor != executor_cfg and st.button("Use this", key="executor-use"):
        executor.save_setting(ws, chosen_executor)
        st.rerun()

if spec.source != "demo":
    base_overview(common.base(ws))
elif (world := common.demo(ws)) is None:
    build_demo()
    st.stop()
else:
    demo_overview(world)

st.subheader("Steps")
steps = st.columns(4)
steps[0].page_link("views/data.py", label="1 · Seeds & data", icon=":material/upload_file:")
steps[1].page_link("views/select.py", label="2 · Select", icon=":material/travel_explore:")
steps[2].page_link("views/finetune.py", label="3 · Finetune", icon=":material/model_training:")
steps[3].page_link("views/compare.py", label="4 · Compare", icon=":material/compare:")

st.subheader("Workspace")
st.caption(f"`{ws.root}`")
kinds = ws.kinds()
if kinds:
    st.dataframe(
        pd.DataFrame([{"artifact kind": k, "count": len(ws.list(k))} for k in kinds]),
        hide_index=True,
        width="content",
    )
else:
    st.caption("Nothing computed yet.")
counts = {role: len(uploads.uploaded(ws, role)) for role in uploads.ROLES}
if any(counts.values()):
    st.caption(
        "Uploaded: "
        + ", ".join(f"{n} {role}" for role, n in counts.items() if n)
        + " (Seeds & data)."
    )
recent = jobs.list_jobs(ws)[:5]
if recent:
    st.caption("Recent jobs")
    st.table(
        pd.DataFrame(
            [
                {"job": j.name, "state": j.state, "stage": j.stage, "error": (j.error or "")[:80]}
                for j in recent
            ]
        )
    )
