"""The finetune command end to end on the quick demo world: selection -> activation cache -> SSAE
sweep."""

import json
import time

import pytest
import torch
from helpers import run_cli
from sae_lens import SAE

from ssae_core.cli import problem
from ssae_core.infra import jobs
from ssae_core.infra.workspace import Workspace

FAST = "--steps 20 --batch-tokens 256 --decay-steps 10 --lr 1e-3 --device cpu --quick".split()


def _selection(root) -> str:
    select = "select --seeds demo:physics --method bm25 --tokens 3000 --quick --json".split()
    out = run_cli(*select, "--workspace", str(root))
    return json.loads(out.stdout)["path"]


def test_finetune_cli_trains_a_sweep_from_a_selection(quick_build, quick_world, tmp_path):
    """A script chains select, finetune (the default recipe: the GSAE extended by 512 latents)
    and the SAELens export by the refs their --json gives."""
    root, _ = quick_build
    select = "select --seeds demo:physics --method bm25 --tokens 3000 --quick --json".split()
    sel = json.loads(run_cli(*select, "--workspace", str(root)).stdout)["ref"]
    assert sel.startswith("selection/")
    cmd = ["finetune", "--selection", sel, "--objective", "term", "--tilt", "500", "--l1", "1,4"]
    cmd += [*FAST, "--json", "--workspace", str(root)]
    summary = json.loads(run_cli(*cmd).stdout)
    assert [v["sparsity"] for v in summary["val"]] == [1.0, 4.0]
    assert summary["train_tokens"] > 2000 and summary["val_tokens"] > 0
    ssae = SAE.load_from_disk(f"{summary['path']}/sae_1")
    gsae = quick_world.gsae
    n = gsae.cfg.d_sae
    assert ssae.W_dec.shape[0] == summary["d_sae"] == n + 512
    assert ssae.cfg.architecture() == summary["architecture"] == "standard"
    norms = gsae.W_dec.norm(dim=-1, keepdim=True)  # the stack keeps unit-norm decoder rows
    assert torch.allclose(ssae.W_dec[:n], gsae.W_dec / norms, atol=1e-6), "the GSAE is kept"
    again = json.loads(run_cli(*cmd).stdout)
    assert again["path"] == summary["path"], "the same command reuses the finished artifact"
    assert summary["saes"] == [f"{summary['ref']}#0", f"{summary['ref']}#1"]
    out = tmp_path / "my-ssae"
    export = ["export", "saelens", "--workspace", str(root), "--json", "--out", str(out)]
    made = json.loads(run_cli(*export, "--sae", summary["saes"][1]).stdout)
    assert made["ref"] == summary["saes"][1] and made["d_sae"] == summary["d_sae"]
    loaded = SAE.load_from_disk(str(out), device="cpu")
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert torch.equal(getattr(loaded, name), getattr(ssae, name)), name
    assert "SAE.load_from_disk" in (out / "README.md").read_text()
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["config"]["tilt"] == 500 and provenance["ref"] == summary["saes"][1]
    taken = run_cli(*export, "--sae", summary["saes"][0], check=False)
    assert taken.returncode != 0 and "not an empty folder" in taken.stderr
    assert json.loads((out / "provenance.json").read_text())["ref"] == summary["saes"][1]
    missing = run_cli(
        *export[:-1], str(tmp_path / "x"), "--sae", f"{summary['ref']}#7", check=False
    )
    assert "#0 to #1" in missing.stderr and not (tmp_path / "x").exists()


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


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--steps", "-5"], "steps must be positive"),
        (["--batch-tokens", "0"], "batch_tokens must be positive"),
        (["--decay-steps", "0"], "decay_steps must be positive"),
        (["--l1", "1,nan"], "sparsity values must be finite and >= 0"),
        (["--l1", "-1"], "sparsity values must be finite and >= 0"),
        (["--objective", "term", "--tilt", "inf"], "--tilt must be a finite number, not inf"),
        (["--lr", "nan"], "--lr must be a positive number, not nan"),
        (["--lr", "-1"], "--lr must be a positive number, not -1.0"),
        (["--tilt", "5"], "A tilt only applies to --objective term"),
        (["--target-l0", "-1"], "sparsity_warmup, resample_every, target_l0 and extend must be"),
        (["--extend", "-4"], "target_l0 and extend must be >= 0"),
    ],
)
def test_bad_training_values_are_one_message_and_write_nothing(quick_build, flags, message):
    root, _ = quick_build
    sel = _selection(root)
    before = _artifacts(root)
    cmd = ["finetune", "--selection", sel, *FAST, *flags, "--workspace", str(root)]
    proc = run_cli(*cmd, check=False)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _artifacts(root) == before, "a refused run leaves no artifact"
    assert message in problem(cmd), "a page refuses the same values before launching"


def _artifacts(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*") if p.is_dir())


def test_problem_reports_usage_errors_and_passes_good_values():
    assert problem(["finetune", "--selection", "s", "--steps", "x"]) == (
        "argument --steps: invalid int value: 'x'"
    )
    assert problem(["finetune", "--selection", "s", "--l1", "2,5"]) is None
    schedule = ["--sparsity-warmup", "100", "--target-l0", "12", "--resample-every", "250"]
    assert problem(["finetune", "--selection", "s", *schedule]) is None
    select = ["select", "--seeds", "demo:physics"]
    assert (
        problem([*select, "--tokens", "-5"]) == "token_budget must be a positive number of tokens."
    )
    assert problem([*select, "--method", "bm26"]).startswith("argument --method: invalid choice")
    assert problem(select) is None
