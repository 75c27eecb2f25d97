"""Every dashboard page under Streamlit's AppTest, against the quick world with its demo
comparison."""

import pytest
from helpers import ROOT, wait_until
from streamlit.testing.v1 import AppTest

from ssae_core.infra import jobs

PAGES = [
    "home",
    "compare",
    "data",
    "select",
    "finetune",
    "evaluate",
    "tail",
    "features",
    "errors",
    "autointerp",
    "shift",
]


@pytest.fixture
def open_page(monkeypatch, quick_workspace, quick_comparison):
    monkeypatch.setenv("SSAE_DEMO", "quick")
    monkeypatch.setenv("SSAE_WORKSPACE", str(quick_workspace.root))

    def run(page: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, f"{page}: {[e.value for e in at.exception]}"
        return at

    return run


def _wait_for_job(ws, name: str, timeout: float) -> None:
    """Until the job ``name`` ends (or ``timeout`` seconds pass)."""
    wait_until(lambda: jobs.status(ws, name).state in jobs.FINAL, timeout, every=0.5)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(open_page, page):
    at = open_page(page)
    assert at.title[0].value


def test_compare_shows_every_figure_for_the_demo_comparison(open_page):
    at = open_page("compare")
    assert len(at.multiselect[0].value) == 5, "GSAE + both sweeps by default"
    assert len(at.get("plotly_chart")) >= 6
    assert any("ppl_spliced" in df.value.columns for df in at.dataframe)


def test_compare_shows_what_specialization_changed(open_page):
    at = open_page("compare")
    assert at.subheader[0].value == "Concepts the GSAE misses that the SSAE finds"
    assert at.subheader[1].value == "Specialization against forgetting"
    kept = next(df.value for df in at.dataframe if "head_mid" in df.value.columns)
    assert kept.sae.iloc[0] == "GSAE" and len(kept) == 3, "the GSAE and one SSAE per sweep"
    assert kept.general_l0_vs_gsae.iloc[0] == 1.0, "general_test is a default split"
    summary = next(df.value for df in at.dataframe if "novel" in df.value.columns)
    assert len(summary) == 2 and (summary.novel + summary.reconstruction == summary.latents).all()
    listed = at.dataframe(key="changed-latents").value
    assert (listed.kind == "novel").all() and listed.count_ssae.is_monotonic_decreasing
    at.radio(key="changed-show").set_value("changed").run()
    listed = at.dataframe(key="changed-latents").value
    assert len(listed) and listed.drift.is_monotonic_increasing, "most turned first"


def test_features_lists_the_novel_latents_of_an_ssae(open_page):
    at = open_page("features")
    at.selectbox(key="feat-split").set_value("physics_test")
    at.session_state["feat-tab"] = "Feature browser"
    for ssae in [o for o in at.selectbox(key="feat-sae").options if o != "GSAE"]:
        at.selectbox(key="feat-sae").set_value(ssae).run()  # the first one evaluated there
        if any(r.key == "feat-list" for r in at.radio):
            break
    else:
        pytest.fail("no SSAE evaluated on physics_test")
    at.radio(key="feat-list").set_value("most changed").run()
    assert not at.exception
    changed = at.selectbox(key="feat-pick").options
    at.radio(key="feat-list").set_value("novel in this SSAE").run()
    pick = [box for box in at.selectbox if box.key == "feat-pick"]
    novel = pick[0].options if pick else []
    assert changed and changed != novel
    assert novel or any("is novel against the GSAE" in w.value for w in at.warning)


@pytest.mark.slow
def test_features_exports_the_sae_for_neuronpedia_as_a_job(open_page, quick_workspace):
    import io
    import zipfile

    at = open_page("features")
    button = next(b for b in at.button if b.label == "Export (background job)")
    button.click().run()
    name = next(j.name for j in jobs.list_jobs(quick_workspace) if j.name.startswith("export-"))
    _wait_for_job(quick_workspace, name, 300)
    assert jobs.status(quick_workspace, name).state == "done"
    at.run()
    labels = [d.proto.label for d in at.get("download_button")]
    assert "Download ssae-demo-lm/1-res-gsae.zip" in labels
    folder = quick_workspace.root / "exports" / "neuronpedia" / "ssae-demo-lm" / "1-res-gsae"
    from ssae_core.report.neuronpedia import zipped

    names = zipfile.ZipFile(io.BytesIO(zipped(folder))).namelist()
    assert "ssae-demo-lm/1-res-gsae/features/batch-0.jsonl.gz" in names
    assert "ssae-demo-lm/1-res-gsae/source.jsonl" in names


def test_features_browser_search_and_pick(open_page):
    at = open_page("features")
    assert not at.text_input, "the browser tab is closed: it does not run"
    at.session_state["feat-tab"] = "Feature browser"
    at.run()
    at.text_input(key="feat-query").set_value("3").run()
    assert not at.exception
    assert at.selectbox(key="feat-pick").value == 3
    assert any(m.label == "Tokens fired on" for m in at.metric)
    at.button(key="explain-one").click().run()
    assert not at.exception
    assert any(
        "Explanation" in m.value and "fuzzing" in m.value and "embedding" in m.value
        for m in at.markdown
    ), "the one-click autointerp result is shown with the delphi-style scores"


def test_data_upload_is_validated(open_page):
    at = open_page("data")
    up = at.get("file_uploader")
    # seeds, corpus, test, OOD (AppTest cannot feed files; the validation is tested in test_data)
    assert len(up) == 4


def test_error_norms_for_pasted_text_and_the_dark_matter_tab(open_page):
    at = open_page("errors")
    area = at.text_area[0]
    area.set_value("the quark spin couples to the field and the proton decays").run()
    assert not at.exception
    heat = [h for h in at.get("html") if "shade: error norm" in h.proto.body]
    assert heat and all(w in heat[0].proto.body for w in ("quark", "proton", "GSAE")), (
        "one shaded row per SAE over the pasted tokens"
    )
    tops = [df.value for df in at.dataframe if "token" in df.value.columns]
    assert tops and "quark" in list(tops[0].token) and set(tops[0].columns) >= {"GSAE"}, (
        "top features per token, a column per SAE"
    )
    assert not at.get("plotly_chart"), "the dark-matter tab is closed, so its fits do not run"
    at.session_state["err-tab"] = "Dark matter on the split"
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 2
    assert any("nonlinear_fvu" in t.value.columns for t in at.table), "the R² / FVU table"
    assert not [h for h in at.get("html") if "shade: error norm" in h.proto.body], (
        "the per-token tab is closed"
    )


def test_select_page_launches_a_small_job(open_page, quick_workspace):
    at = open_page("select")
    at.number_input(key="sel-budget").set_value(1000).run()
    at.button[0].click().run()
    assert not at.exception
    started = [j for j in jobs.list_jobs(quick_workspace) if j.name.startswith("select-")]
    assert started, "the button launches a background job"
    _wait_for_job(quick_workspace, started[0].name, 120)
    assert jobs.status(quick_workspace, started[0].name).state == "done"
    assert any(
        a.manifest["config"]["token_budget"] == 1000 for a in quick_workspace.list("selection")
    )


@pytest.mark.slow
def test_finetune_page_trains_a_tilt_sweep_in_one_job(open_page, quick_workspace):
    at = open_page("finetune")
    at.radio(key="ft-obj").set_value("term").run()
    assert at.selectbox(key="ft-tilt-mode").value == "ess"
    at.text_input(key="ft-l1").set_value("1,4").run()
    at.button[0].click().run()
    started = [j for j in jobs.list_jobs(quick_workspace) if j.name.startswith("finetune-")]
    assert started and "--ess-sweep" in started[0].args
    _wait_for_job(quick_workspace, started[0].name, 180)
    assert jobs.status(quick_workspace, started[0].name).state == "done"
    sweep = [a for a in quick_workspace.list("ssae") if a.manifest["config"].get("ess_sweep")]
    assert sweep and len(sweep[0].summary["val"]) == 2 * 4, "2 sparsity values x 4 shares"
    at.run()
    table = next(df.value for df in at.dataframe if "curve" in df.value.columns)
    curves = set(table[table.key == sweep[0].key].curve)
    assert curves == {f"bm25 TERM ESS {e}" for e in ("0.5", "0.2", "0.05", "0.01")}


def test_finetune_page_extends_the_gsae_or_reaims_its_silent_latents(
    open_page, quick_workspace, quick_world
):
    """The recipe widgets become the job's options: extension (new latents on the GSAE's
    residual: the SSAE is the GSAE's width plus them) or re-aiming silent latents."""
    at = open_page("finetune")
    at.text_input(key="ft-l1").set_value("3").run()
    at.radio(key="ft-recipe").set_value("extend").run()
    at.number_input(key="ft-extend").set_value(64).run()
    assert at.checkbox(key="ft-reaim").disabled
    before = {j.name for j in jobs.list_jobs(quick_workspace)}
    at.button[0].click().run()
    (job,) = [j for j in jobs.list_jobs(quick_workspace) if j.name not in before]
    assert job.args[job.args.index("--extend") + 1] == "64"
    assert job.args[job.args.index("--aim") + 1] == "clusters", "the recipe's aim"
    _wait_for_job(quick_workspace, job.name, 180)
    assert jobs.status(quick_workspace, job.name).state == "done"
    (art,) = [
        a
        for a in quick_workspace.list("ssae")
        if a.manifest["config"].get("extend") == 64 and a.manifest["config"]["sparsity"] == [3.0]
    ]
    assert art.summary["d_sae"] == quick_world.gsae.cfg.d_sae + 64
    at.radio(key="ft-recipe").set_value("finetune").run()
    at.checkbox(key="ft-reaim").check().run()
    before = {j.name for j in jobs.list_jobs(quick_workspace)}
    at.button[0].click().run()
    (job,) = [j for j in jobs.list_jobs(quick_workspace) if j.name not in before]
    assert "--reaim" in job.args and "--resample-every" in job.args
    assert job.args[job.args.index("--extend") + 1] == "0", "every latent: no extension"
    assert at.selectbox(key="ft-aim").disabled
    _wait_for_job(quick_workspace, job.name, 180)
    assert jobs.status(quick_workspace, job.name).state == "done"


def test_finetune_page_refuses_bad_values_before_launching(open_page, quick_workspace):
    at = open_page("finetune")
    before = jobs.list_jobs(quick_workspace)
    at.text_input(key="ft-l1").set_value("1,nan").run()
    assert "sparsity values must be finite" in at.error[0].value and not at.button
    at.text_input(key="ft-l1").set_value("1").run()
    at.radio(key="ft-obj").set_value("term").run()
    at.selectbox(key="ft-tilt-mode").set_value("absolute").run()
    at.text_input(key="ft-tilt-absolute").set_value("inf").run()
    assert "--tilt must be a finite number, not inf" in at.error[0].value and not at.button
    at.text_input(key="ft-tilt-absolute").set_value("500").run()
    assert not at.error and at.button[0].label.startswith("Train on")
    assert jobs.list_jobs(quick_workspace) == before, "nothing was launched"


def test_select_page_draws_the_embedding_map(open_page, quick_workspace, quick_world):
    from ssae_core.demo.world import world_base
    from ssae_core.models.base import BaseSpec
    from ssae_core.select.retrieval import SelectionConfig
    from ssae_core.select.selection import run_selection

    base = world_base(quick_world, BaseSpec(quick=True))
    dense = run_selection(
        SelectionConfig(method="dense", token_budget=3000, max_seq_length=64),
        quick_world.text_set("physics_seed"),
        quick_world.text_set(quick_world.corpus_split),  # what the page's "demo" corpus names
        base,
        quick_workspace,
    )
    at = open_page("select")
    at.selectbox(key="sel-show").set_value(dense.key).run()
    at.toggle(key="sel-map").set_value(True).run()
    assert not at.exception
    chart = at.get("plotly_chart")[-1]
    import json

    groups = {trace["name"] for trace in json.loads(chart.proto.spec)["data"]}
    assert {"seed", "selected", "corpus"} <= {g.split(" ")[0] for g in groups}, groups


@pytest.mark.slow
def test_an_uploaded_test_set_is_evaluated_and_shown(open_page, quick_workspace, quick_world):
    """A test set uploaded on the Seeds & data page is a split choice of the analysis pages,
    evaluated through the job."""
    texts = [quick_world.tokenizer.decode(d) for d in quick_world.split_tokens("physics_test")[:12]]
    target = quick_workspace.root / "uploads" / "test" / "my_lab_notes.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(texts) + "\n")
    at = open_page("evaluate")
    at.multiselect(key="eval-splits").set_value([str(target)]).run()
    assert not at.exception
    before = {j.name for j in jobs.list_jobs(quick_workspace)}
    at.button(
        key=next(b.key for b in at.button if b.key and b.key.startswith("go-evaluate-"))
    ).click().run()
    (name,) = {j.name for j in jobs.list_jobs(quick_workspace)} - before
    _wait_for_job(quick_workspace, name, 240)
    assert jobs.status(quick_workspace, name).state == "done", jobs.status(quick_workspace, name)
    at.run()
    assert not at.exception
    shown = [df.value for df in at.dataframe if "split" in df.value.columns]
    assert shown and set(shown[0].split) == {"my_lab_notes"}


def test_shift_page_ranks_latents_in_a_job_and_scores_the_ticked_ones(open_page, quick_workspace):
    at = open_page("shift")
    at.checkbox(key="shift-task-ssae").set_value(False).run()
    at.multiselect(key="shift-saes").set_value([at.multiselect(key="shift-saes").options[0]]).run()
    before = {j.name for j in jobs.list_jobs(quick_workspace)}
    stored = {a.key for a in quick_workspace.list("shift")}  # other tests' tasks, if they ran
    at.button[0].click().run()
    (name,) = {j.name for j in jobs.list_jobs(quick_workspace)} - before
    assert name.startswith("shift-") and "--no-gsae" not in jobs.status(quick_workspace, name).args
    _wait_for_job(quick_workspace, name, 300)
    assert jobs.status(quick_workspace, name).state == "done", jobs.status(quick_workspace, name)
    at.run()
    assert not at.exception
    (art,) = [a for a in quick_workspace.list("shift") if a.key not in stored]
    from ssae_core.analysis.shift import run as shift_run

    data = shift_run.load(art)
    # tick the two latents of highest attribution, as a user would in the table (the suggested
    # ones start ticked)
    at.session_state[f"shift-table-{art.key}"] = {
        "edited_rows": {0: {"spurious": True}, 1: {"spurious": True}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    summary = next(df.value for df in at.dataframe if "worst removed" in df.value.columns)
    ticked = sorted({*data.suggested, *(int(i) for i in data.table.latent[:2])})
    assert summary.removed.tolist() == [len(ticked)]
    assert len(at.get("plotly_chart")) == 1
    score = shift_run.score(quick_workspace, data, ticked)
    assert summary["worst removed"][0] == score.ablated.worst
