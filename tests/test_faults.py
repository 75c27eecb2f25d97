"""Faults a user meets: a worker killed with SIGKILL in the middle of each long stage (the next
identical launch finishes, and its artifact equals an uninterrupted run's, byte for byte), and a
workspace on a full disk (one clear message, nothing partial kept, finished artifacts intact)."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from helpers import ROOT, run_cli, wait_until

from ssae_core import jobs
from ssae_core.workspace import Workspace


def _wait(predicate, timeout=240):
    return wait_until(predicate, timeout)


def _hashes(art) -> dict:
    """SHA-256 of the artifact's files (the manifest's table), timing logs left out."""
    return {k: v["sha256"] for k, v in art.manifest["files"].items() if k != "log.parquet"}


def _killed_then_resumed(ws: Workspace, name: str, argv: list[str], stage: str, after: int):
    """Launch ``argv`` as job ``name``, SIGKILL its worker once the job is ``after`` items into a
    stage starting with ``stage``, check it reads as failed, launch it again and wait for it."""
    jobs.launch(ws, name, argv)

    def into_stage():
        s = jobs.status(ws, name)
        assert s.state not in ("done", "failed"), (s.state, s.error, s.log[-3:])
        return s.stage.startswith(stage) and s.done >= after

    assert _wait(into_stage), jobs.status(ws, name)
    os.killpg(jobs.status(ws, name).pid, signal.SIGKILL)
    assert _wait(lambda: jobs.status(ws, name).state == "failed")
    jobs.launch(ws, name, argv)
    assert _wait(lambda: jobs.status(ws, name).state in jobs.FINAL)
    assert jobs.status(ws, name).state == "done", jobs.status(ws, name)


def _artifacts(ws: Workspace) -> dict[str, object]:
    return {a.ref: a for kind in ws.kinds() for a in ws.list(kind)}


def _rebuilt_equal(ws: Workspace, kind: str, argv: list[str], stage: str, after: int, tag: str):
    """Run ``argv`` straight, keep the hashes of the ``kind`` artifact it made, delete everything
    it made, then run it killed and resumed: that artifact must come back identical."""
    before = set(_artifacts(ws))
    run_cli(*argv, "--workspace", str(ws.root))
    made = {ref: a for ref, a in _artifacts(ws).items() if ref not in before}
    (straight,) = [a for a in made.values() if a.kind == kind]
    expected = _hashes(straight)
    for art in made.values():
        shutil.rmtree(art.path)
    _killed_then_resumed(ws, f"fault-{tag}", [*argv, "--workspace", str(ws.root)], stage, after)
    again = ws.get(straight.ref)
    assert _hashes(again) == expected
    assert not list(again.path.parent.glob(".tmp-*")), "the killed build's temp directory is gone"
    return again


@pytest.fixture
def fault_ws(quick_workspace, quick_comparison):
    return quick_workspace


def test_a_killed_finetuning_sweep_resumes_to_the_same_weights(fault_ws):
    sel = fault_ws.list("selection")[0].ref
    argv = ["finetune", "--quick", "--selection", sel, "--l1", "1,4", "--steps", "600"]
    argv += ["--batch-tokens", "256", "--device", "cpu", "--json"]
    art = _rebuilt_equal(fault_ws, "ssae", argv, "finetune", 150, "finetune")  # checkpoint: 100
    assert not (fault_ws.root / "runs" / art.key / "checkpoint.pt").exists()


def test_a_killed_evaluation_and_a_killed_corpus_embedding_rebuild_the_same(fault_ws, tmp_path):
    argv = ["evaluate", "--quick", "--split", "general", "--device", "cpu", "--json"]
    _rebuilt_equal(fault_ws, "sae_eval", argv, "evaluate", 300, "evaluate")
    world = fault_ws.list("corpus")[0]
    import pandas as pd

    docs = pd.read_parquet(world.file("docs.parquet"))
    corpus = tmp_path / "corpus.jsonl"
    general = docs[docs.split == "general"].text
    corpus.write_text("\n".join(json.dumps({"text": t}) for t in general) + "\n")
    argv = ["select", "--quick", "--seeds", "demo:physics", "--corpus", str(corpus)]
    argv += ["--method", "dense", "--tokens", "2000", "--json"]
    argv += ["--device", "cpu"]
    _rebuilt_equal(fault_ws, "embeddings", argv, "embed corpus", 256, "embed")


def test_a_full_disk_fails_with_one_message_and_keeps_finished_artifacts(quick_world, tmp_path):
    """A 600 KiB tmpfs workspace (a private mount namespace: ``unshare -rm``): the selection fits,
    the finetuning's activation cache does not."""
    ws = tmp_path / "small"
    ws.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    seeds = tmp_path / "seeds.jsonl"
    texts = quick_world.docs[quick_world.docs.split == "general"].text.head(300)
    seeds.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n")
    base = f"--base local --model-dir {quick_world.model_dir} --sae-dir {quick_world.gsae_dir}"
    cli = f"{sys.executable} -m ssae_core"
    common = f"{base} --workspace {ws} --device cpu"
    check = (
        "from ssae_core.workspace import Workspace; ws = Workspace('" + str(ws) + "');"
        " print(len(ws.list('selection')), sorted(p.name for p in ws.root.rglob('.tmp-*')))"
    )
    script = f"""
set -e
mount -t tmpfs -o size=600k tmpfs {ws}
{cli} select {common} --seeds {seeds} --corpus {seeds} --method seed --tokens 5000 \
    > {out}/select.json
sel=selection/$(ls {ws}/selection | grep -v '^[.]')
set +e
{cli} finetune {common} --selection $sel --l1 4 --steps 5 --batch-tokens 64 \
    > {out}/ft.out 2> {out}/ft.err
echo $? > {out}/ft.code
{sys.executable} -c "{check}" > {out}/check.txt
"""
    # the selection (5000 tokens of text) fits; their activations (5000 x 64 float32) do not
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    err = (out / "ft.err").read_text()
    assert (out / "ft.code").read_text().strip() == "1" and "Traceback" not in err
    assert "is full" in err and "run the same command again" in err
    assert (out / "check.txt").read_text().strip() == "1 []"
