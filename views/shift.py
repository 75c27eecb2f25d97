"""SHIFT: find the latents a biased probe uses for a spurious cue, remove them, and compare
worst-group accuracy across SAEs (GSAE vs SSAE)."""

from pathlib import Path

import streamlit as st

from ssae_core.analysis.autointerp.run import stored_results
from ssae_core.analysis.shift import run as shift_run
from ssae_core.analysis.shift.task import DEMO_TASK, TaskConfig, load_task
from ssae_core.cli import launch
from ssae_core.demo.bios import bios_of
from ssae_core.infra.errors import SSAEError
from ssae_core.report import analysis_plots
from ssae_core.report.highlight import example_html
from ssae_core.select import uploads
from ssae_core.select.data import DataError
from views import common

ws, base = common.page(
    "SHIFT",
    "A linear probe learns a label from biased data, where a spurious cue agrees with the label"
    " 95% of the time. Its SAE latents are ranked by attribution to the probe; removing the"
    " cue's latents (error term kept) should raise worst-group accuracy on balanced data"
    " (Marks et al., 'Sparse feature circuits'; the SSAE paper's Bias in Bios result).",
)

upload = st.file_uploader(
    "Task table (CSV / jsonl / parquet with text, label and group columns)",
    type=["csv", "jsonl", "parquet"],
    key="shift-upload",
)
if upload is not None:
    try:
        uploads.save(ws, "tasks", upload.name, upload.getvalue())
    except DataError as exc:
        st.error(f"{upload.name[:100]}: {exc}")
tasks = ([DEMO_TASK] if base.data is not None else []) + uploads.uploaded(ws, "tasks")
if not tasks:
    st.info("Upload a task table: text, label (two values) and group (the spurious cue) columns.")
    st.stop()
c1, c2, c3 = st.columns([2, 1, 1])
task_name = c1.selectbox("Task", tasks, format_func=lambda t: Path(t).name, key="shift-task")
seed = c2.number_input("Seed (which documents)", 0, 1000, 0, key="shift-seed")
task_ssae = c3.checkbox(
    "Also finetune a task SSAE",
    value=base.data is not None,
    disabled=base.data is None,
    key="shift-task-ssae",
    help="Select from the demo corpus with the task's training texts as seeds, finetune the GSAE"
    " on it (a training job, once), and compare it.",
)
saes = common.choose_saes(ws, base, "shift-saes", most=1)
try:
    task = load_task(task_name, bios_of(base), TaskConfig(seed=int(seed)))
except SSAEError as exc:
    st.error(str(exc))
    st.stop()

job = launch.shift(base.spec, [s.ref for s in saes], task_name, task_ssae, int(seed))
common.launch_button(
    ws, job, "SHIFT", "Rank latents and remove the suggested ones (background job)"
)


@st.cache_resource(max_entries=32, show_spinner=False)
def load(path: str) -> shift_run.ShiftData:
    """A ``shift`` artifact's contents, read once per server (artifacts never change)."""
    return shift_run.load(ws.open(path))


datas = [load(str(a.path)) for a in shift_run.stored(ws, base.ref, task)]
if not datas:
    st.info("No SHIFT results for this task yet: run the job above.")
    st.stop()
explained: dict[str, dict[int, str]] = {}
for r in stored_results(ws, [d.art.summary["sae_ref"] for d in datas]):
    if r.get("status") == "ok":
        explained.setdefault(r["sae"], {})[r["feature"]] = r["explanation"]


edited = {}
with st.form("shift-form"):
    for d in datas:
        st.markdown(f"**{d.sae_label}**: top latents by attribution (ticked: remove)")
        notes = explained.get(d.art.summary["sae_ref"], {})
        table = shift_run.with_explanations(d.table, notes, task.cue_words)
        table = table.drop(columns=["column"]).rename(columns={"suggested": "spurious"})
        edited[d.sae_label] = st.data_editor(
            table,
            hide_index=True,
            disabled=[c for c in table.columns if c != "spurious"],
            column_config={
                "spurious": st.column_config.CheckboxColumn(help="remove this latent"),
                "cue_r2": st.column_config.NumberColumn(
                    help="variance of its pooled activation the cue explains (balanced split)",
                    format="%.2f",
                ),
                "label_r2": st.column_config.NumberColumn(
                    help="variance of its pooled activation the label explains", format="%.2f"
                ),
                "cue_share": st.column_config.NumberColumn(
                    help="share of its activation on the cue's words", format="%.2f"
                ),
            },
            key=f"shift-table-{d.art.key}",
        )
    st.form_submit_button("Remove the ticked latents and score", type="primary")
scores = {}
for d in datas:
    marked = edited[d.sae_label]
    marked = [int(i) for i in marked.latent[marked.spurious]]
    if marked:
        scores[d.sae_label] = shift_run.score(ws, d, marked)

with st.expander("Top documents of a latent"):
    c1, c2 = st.columns(2)
    which = c1.selectbox("SAE", range(len(datas)), format_func=lambda i: datas[i].sae_label)
    d = datas[which]
    latent = c2.selectbox("Latent", d.table.latent, key="shift-latent")
    row = d.table[d.table.latent == latent].iloc[0]
    st.caption(f"logit lens: {row.lens}")
    for ex in d.examples.get(int(latent), []):
        st.html(example_html(ex["tokens"], ex["acts"], max(ex["acts"] or [0.0])))

st.subheader("Worst-group accuracy before and after removal")
summary = shift_run.summary_table(datas, scores)
st.dataframe(summary, hide_index=True)
common.download_csv(summary, "shift")
if scores:
    st.plotly_chart(analysis_plots.shift_groups(shift_run.group_table(scores)), key="shift-groups")
else:
    st.info("Tick latents as spurious in a table above to remove them and score the probe.")
