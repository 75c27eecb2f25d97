"""The dashboard's home page, run by Streamlit's AppTest against real workspaces."""

import time

import pytest
from helpers import ROOT
from streamlit.testing.v1 import AppTest

from ssae_core.infra import jobs


@pytest.fixture
def app_env(monkeypatch):
    monkeypatch.setenv("SSAE_DEMO", "quick")

    def make(workspace):
        monkeypatch.setenv("SSAE_WORKSPACE", str(workspace))
        return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)

    return make


def test_home_shows_the_built_world(app_env, quick_workspace):
    at = app_env(quick_workspace.root).run()
    assert not at.exception
    assert at.title[0].value == "SSAE Studio"
    labels = [m.label for m in at.metric]
    assert "LM held-out CE" in labels and "GSAE CE loss recovered" in labels
    assert len(at.get("plotly_chart")) == 1
    timing = next(c.value for c in at.caption if c.value.startswith("Built on this machine in"))
    assert all(f"{step} " in timing for step in ("corpus", "tokenizer", "LM", "GSAE", "report"))
    assert any("corpus" in str(v) for df in at.dataframe for v in df.value["artifact kind"])


def test_first_launch_starts_the_build_job_and_shows_progress(app_env, tmp_path):
    from ssae_core.infra.workspace import Workspace

    at = app_env(tmp_path).run()
    assert not at.exception
    assert "Building the demo world" in [h.value for h in at.subheader]
    ws = Workspace(tmp_path)
    state = jobs.status(ws, "demo-build")
    assert state is not None and state.state in ("starting", "running", "done")
    deadline = time.time() + 30
    while time.time() < deadline and getattr(jobs.status(ws, "demo-build"), "stage", "") == "":
        time.sleep(0.5)
    assert jobs.status(ws, "demo-build").stage, "the worker reports its stage"
    assert jobs.cancel(ws, "demo-build")
    deadline = time.time() + 30
    while time.time() < deadline and jobs.status(ws, "demo-build").state == "running":
        time.sleep(0.5)
    assert jobs.status(ws, "demo-build").state in ("cancelled", "failed")


def _write_docs(path, texts):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(texts) + "\n")


def _wait(ws, name, seconds=240):
    deadline = time.time() + seconds
    while time.time() < deadline and jobs.status(ws, name).state not in jobs.FINAL:
        time.sleep(0.5)
    return jobs.status(ws, name)


@pytest.mark.slow
def test_a_local_base_is_chosen_on_home_and_drives_every_step(app_env, quick_world, tmp_path):
    """A broken saved base is explained; the Home form switches to local directories; Select and
    Evaluate then run their jobs on uploaded sets with that base (the jobs get its CLI options)."""
    from ssae_core.demo.world import copy_base
    from ssae_core.infra.workspace import Workspace
    from ssae_core.models.base import BaseSpec, save_spec, saved_spec

    copy_base(quick_world, tmp_path / "base")
    ws = Workspace(tmp_path / "ws")
    save_spec(
        ws,
        BaseSpec(
            source="local",
            model_dir=str(tmp_path / "nowhere"),
            sae_dir=str(tmp_path / "base" / "sae"),
        ),
    )
    at = app_env(ws.root).run()
    assert not at.exception
    assert any("could not be loaded" in e.value and "is not a model" in e.value for e in at.error)
    assert jobs.status(ws, "demo-build") is None, (
        "a workspace with its own base does not build the demo world"
    )

    at.text_input(key="base-model-dir").set_value(str(tmp_path / "base" / "model")).run()
    at.button(key="base-use").click().run()
    assert not at.exception and not at.error
    assert saved_spec(ws, BaseSpec()).model_dir == str(tmp_path / "base" / "model")
    shown = {m.label: m.value for m in at.metric}
    assert (
        shown["d_model"] == str(quick_world.model.cfg.d_model)
        and shown["GSAE features"] == f"{quick_world.gsae.cfg.d_sae:,}"
    )

    at.switch_page("views/evaluate.py").run()
    assert any("No test set yet" in i.value for i in at.info), (
        "no demo splits with a local base: the page asks for uploads"
    )

    uploads = ws.root / "uploads"
    _write_docs(uploads / "seeds" / "seeds.txt", quick_world.text_set("physics_seed").texts)
    _write_docs(uploads / "corpus" / "corpus.txt", quick_world.text_set("general").texts)
    _write_docs(uploads / "test" / "notes.txt", quick_world.text_set("physics_test").texts[:10])
    _write_docs(uploads / "ood" / "other.txt", quick_world.text_set("physics_ood").texts[:10])

    at.switch_page("views/select.py").run()
    assert at.selectbox(key="sel-corpus").options == ["uploaded: corpus.txt"]
    at.number_input(key="sel-budget").set_value(1000).run()
    at.button[0].click().run()
    (select_job,) = [j.name for j in jobs.list_jobs(ws) if j.name.startswith("select-")]
    assert _wait(ws, select_job).state == "done", jobs.status(ws, select_job)
    (sel,) = ws.list("selection")
    assert (
        sel.manifest["config"]["token_budget"] == 1000
        and f"base/{saved_spec(ws, BaseSpec()).digest()}" in sel.manifest["inputs"]
    )

    at.switch_page("views/evaluate.py").run()
    assert at.multiselect(key="eval-splits").value == [
        str(uploads / "test" / "notes.txt"),
        str(uploads / "ood" / "other.txt"),
    ]
    at.button(
        key=next(b.key for b in at.button if b.key and b.key.startswith("go-evaluate-"))
    ).click().run()
    (eval_job,) = [j.name for j in jobs.list_jobs(ws) if j.name.startswith("evaluate-")]
    assert _wait(ws, eval_job).state == "done", jobs.status(ws, eval_job)
    at.run()
    assert not at.exception
    metrics = next(df.value for df in at.dataframe if "ppl_spliced" in df.value.columns)
    assert set(metrics.split) == {"notes", "other"} and list(metrics.label) == ["GSAE", "GSAE"]

    at.switch_page("views/home.py").run()
    recent = next(t.value for t in at.table if "job" in t.value.columns)
    assert {select_job, eval_job} <= set(recent.job) and set(recent.state) == {"done"}, (
        "Home lists the workspace's jobs"
    )
    assert any("1 seeds, 1 corpus, 1 test, 1 ood" in c.value for c in at.caption)


def test_home_trains_a_gsae_for_a_local_model_without_one(app_env, quick_world, tmp_path):
    """A local model and no SAE: Home trains a GSAE on an uploaded corpus in a background job,
    offers it, and the pair becomes the workspace's base."""
    from ssae_core.infra.workspace import Workspace
    from ssae_core.models.base import BaseSpec, saved_spec

    d_model = quick_world.model.cfg.d_model
    ws = Workspace(tmp_path / "ws")
    _write_docs(ws.root / "uploads" / "corpus" / "web.txt", quick_world.text_set("general").texts)
    at = app_env(ws.root).run()
    at.radio(key="base-source").set_value("local").run()
    at.text_input(key="base-model-dir").set_value(str(quick_world.model_dir)).run()
    assert at.selectbox(key="gsae-corpus").value.endswith("web.txt")
    at.selectbox(key="gsae-arch").set_value("topk").run()
    at.number_input(key="gsae-sparsity-topk").set_value(8).run()
    at.number_input(key="gsae-tokens").set_value(3000).run()
    at.number_input(key="gsae-steps").set_value(40).run()
    next(b for b in at.button if b.label.startswith("Train a GSAE")).click().run()
    (job,) = [j for j in jobs.list_jobs(ws) if j.name.startswith("gsae-")]
    assert "--arch topk" in " ".join(job.args) and "--steps 40" in " ".join(job.args)
    assert _wait(ws, job.name).state == "done", jobs.status(ws, job.name)
    at.run()
    (trained,) = at.selectbox(key="gsae-pick").options[1:]
    assert "topk" in trained and "L0 8.0" in trained
    at.selectbox(key="gsae-pick").set_value(at.selectbox(key="gsae-pick").options[1]).run()
    at.button(key="base-use").click().run()
    assert not at.exception and not at.error
    chosen = saved_spec(ws, BaseSpec())
    assert chosen.model_dir == str(quick_world.model_dir) and chosen.sae_dir.endswith("sae_0")
    assert {m.label: m.value for m in at.metric}["GSAE features"] == f"{8 * d_model:,}"


def test_a_release_that_cannot_be_downloaded_is_explained_and_not_kept(
    app_env, quick_workspace, monkeypatch
):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    at = app_env(quick_workspace.root).run()
    at.radio(key="base-source").set_value("release").run()
    assert at.selectbox(key="base-release").value == "gpt2-small-res-jb"
    at.selectbox(key="base-sae-id").set_value("blocks.8.hook_resid_pre").run()
    assert at.text_input(key="base-model-name").value == "gpt2-small", (
        "the release's own model by default"
    )
    at.button(key="base-use").click().run()
    assert not at.exception
    assert any(
        "Cannot reach the Hugging Face Hub" in e.value and "demo world" in e.value for e in at.error
    )
    assert not (quick_workspace.root / "base.json").exists()
    assert "LM held-out CE" in [m.label for m in at.metric], "the demo world stays the base"


def test_home_saves_where_training_runs(app_env, quick_workspace):
    """The executor setting the dashboard's jobs follow (``--executor`` defaults to it)."""
    import argparse

    from ssae_core.cli import common
    from ssae_core.infra import executor

    setting = quick_workspace.root / executor.SETTING_FILE
    try:
        at = app_env(quick_workspace.root).run()
        assert not at.exception
        assert next(e for e in at.expander if e.label.startswith("Where training runs: local"))
        at.radio(key="executor-kind").set_value("ray").run()
        at.text_input(key="executor-address").input("head:6379").run()
        at.button(key="executor-use").click().run()
        assert not at.exception
        assert executor.setting(quick_workspace) == executor.ExecutorConfig("ray", "head:6379")
        assert any(e.label.startswith("Where training runs: ray at head:6379") for e in at.expander)
        parser = argparse.ArgumentParser()
        common.executor_options(parser)
        chosen = common.executor(parser.parse_args([]), quick_workspace)
        assert isinstance(chosen, executor.RayExecutor) and chosen.cfg.ray_address == "head:6379"
        assert isinstance(
            common.executor(parser.parse_args(["--executor", "local"]), quick_workspace),
            executor.LocalExecutor,
        )
    finally:
        setting.unlink(missing_ok=True)  # the session's other tests train locally
