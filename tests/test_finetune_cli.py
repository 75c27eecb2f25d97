"""The finetune command end to end on the quick demo world: selection -> activation cache -> SSAE
sweep."""

import json
import time

from helpers import run_cli
from sae_lens import SAE

from ssae_core import jobs
from ssae_core.workspace import Workspace

FAST = "--steps 20 --batch-tokens 256 --decay-steps 10 --lr 1e-3 --device cpu --quick".split()


def _selection(root) -> str:
    select = "select --seeds demo:physics --method bm25 --tokens 3000 --quick --json".split()
    out = run_cli(*select, "--workspace", str(root))
    return json.loads(out.stdout)["path"]


def test_finetune_cli_trains_a_sweep_from_a_selection(quick_build):
    root, _ = quick_build
    sel = _selection(root)
    cmd = ["finetune", "--selection", sel, "--objective", "term", "--tilt", "500", "--l1", "1,4"]
    cmd += [*FAST, "--json", "--workspace", str(root)]
    summary = json.loads(run_cli(*cmd).stdout)
    assert [v["sparsity"] for v in summary["val"]] == [1.0, 4.0]
    assert summary["val"][0]["l0"] > summary["val"][1]["l0"]
    assert summary["train_tokens"] > 2000 and summary["val_tokens"] > 0
    ssae = SAE.load_from_disk(f"{summary['path']}/sae_1")
    assert (
        ssae.W_dec.shape[0] == summary["d_sae"]
        and ssae.cfg.architecture() == summary["architecture"] == "standard"
    )
    again = json.loads(run_cli(*cmd).stdout)
    assert again["path"] == summary["path"], "the same command reuses the finished artifact"


def test_finetune_runs_as_a_background_job(quick_build):
    root, _ = quick_build
    sel = _selection(root)
    out = json.loads(
        run_cli(
            "finetune",
            "--selection",
            sel,
            "--l1",
            "2",
            *FAST,
            "--background",
            "--json",
            "--workspace",
            str(root),
        ).stdout
    )
    ws = Workspace(root)
    deadline = time.time() + 300
    while time.time() < deadline and jobs.status(ws, out["job"]).state not in jobs.FINAL:
        time.sleep(0.5)
    state = jobs.status(ws, out["job"])
    assert state.state == "done", state
    assert state.resource == "train:cpu"
    assert any(a.manifest["config"]["sparsity"] == [2.0] for a in ws.list("ssae"))


def test_finetune_explains_a_bad_selection_and_bad_values(quick_build):
    root, _ = quick_build
    proc = run_cli(
        "finetune", "--selection", "selection/nope", *FAST, "--workspace", str(root), check=False
    )
    assert proc.returncode == 1 and "No selection artifact" in proc.stderr
    proc = run_cli(
        "finetune",
        "--selection",
        _selection(root),
        "--l1",
        "a,b",
        *FAST,
        "--workspace",
        str(root),
        check=False,
    )
    assert proc.returncode == 1 and "comma-separated numbers" in proc.stderr
