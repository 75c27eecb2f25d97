"""The dashboard's home page, run by Streamlit's AppTest against real workspaces."""

import time

import pytest
from streamlit.testing.v1 import AppTest

from helpers import ROOT
from ssae_core import jobs


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
    assert any("corpus" in str(v) for df in at.dataframe for v in df.value["artifact kind"])


def test_first_launch_starts_the_build_job_and_shows_progress(app_env, tmp_path):
    from ssae_core.workspace import Workspace

    at = app_env(tmp_path).run()
    assert not at.exception
    assert "Building the demo world" in [h.value for h in at.subheader]
    ws = Workspace(tmp_path)
    state = jobs.status(ws, "demo-build")
    assert state is not None and state["state"] in ("starting", "running", "done")
    deadline = time.time() + 30
    while time.time() < deadline and (jobs.status(ws, "demo-build") or {}).get("stage", "") == "":
        time.sleep(0.5)
    assert jobs.status(ws, "demo-build")["stage"], "the worker reports its stage"
    assert jobs.cancel(ws, "demo-build")
    deadline = time.time() + 30
    while time.time() < deadline and jobs.status(ws, "demo-build")["state"] == "running":
        time.sleep(0.5)
    assert jobs.status(ws, "demo-build")["state"] in ("cancelled", "failed")
