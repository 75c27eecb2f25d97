"""Faults a user meets: a worker killed with SIGKILL in the middle of each long stage (the next
identical launch finishes, and its artifact equals an uninterrupted run's, byte for byte), and a
workspace on a full disk (one clear message, nothing partial kept, finished artifacts intact)."""

import base64
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from helpers import ROOT, run_cli, wait_until, world_only

from ssae_core.analysis.autointerp import prompts
from ssae_core.infra import jobs
from ssae_core.infra.workspace import Workspace


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


def _rebuilt_equal(ws: Workspace, argv: list[str], stage: str, after: int, tag: str, approx=()):
    """Run ``argv`` straight, keep the hashes of every artifact it made, delete them all, then run
    it killed and resumed: each must come back identical. Files named in ``approx`` hold fits whose
    multi-threaded sums may differ in the last bits: they are compared as JSON, floats to 1e-9
    relative and the ``seconds`` field left out."""
    before = set(_artifacts(ws))
    run_cli(*argv, "--workspace", str(ws.root))
    made = {ref: a for ref, a in _artifacts(ws).items() if ref not in before}
    expected = {ref: _hashes(a) for ref, a in made.items()}
    loose = {(r, f): _loose(a.file(f)) for r, a in made.items() for f in approx if f in expected[r]}
    for art in made.values():
        shutil.rmtree(art.path)
    _killed_then_resumed(ws, f"fault-{tag}", [*argv, "--workspace", str(ws.root)], stage, after)
    for ref, hashes in expected.items():
        again = ws.get(ref)
        for (r, f), value in loose.items():
            if r == ref:
                assert _close(_loose(again.file(f)), value), (ref, f)
        assert {k: v for k, v in _hashes(again).items() if k not in approx} == {
            k: v for k, v in hashes.items() if k not in approx
        }, ref
        assert not list(again.path.parent.glob(".tmp-*")), (
            "the killed build's temp directory is gone"
        )
    return made


def _loose(path) -> dict:
    """A JSON file, its string values that hold a plotly figure's JSON parsed too."""
    data = json.loads(path.read_text())
    return {k: json.loads(v) if isinstance(v, str) and v[:1] == "{" else v for k, v in data.items()}


def _array(typed: dict) -> np.ndarray:
    """A plotly typed array (``{"dtype", "bdata"[, "shape"]}``, the bytes base64) as numpy."""
    values = np.frombuffer(base64.b64decode(typed["bdata"]), dtype=typed["dtype"])
    shape = typed.get("shape")
    return values.reshape([int(n) for n in str(shape).split(",")]) if shape else values


def _close(a, b) -> bool:
    if isinstance(a, dict) and "bdata" in a and isinstance(b, dict) and "bdata" in b:
        a, b = _array(a), _array(b)
        return a.dtype == b.dtype and a.shape == b.shape and np.allclose(a, b, 1e-9, 1e-12)
    if isinstance(a, dict):
        keys = set(a) - {"seconds"}
        return (
            isinstance(b, dict)
            and keys == set(b) - {"seconds"}
            and all(_close(a[k], b[k]) for k in keys)
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


@pytest.fixture
def fault_ws(quick_workspace, quick_comparison):
    return quick_workspace


@pytest.mark.slow
def test_a_killed_finetuning_sweep_resumes_to_the_same_weights(fault_ws):
    sel = fault_ws.list("selection")[0].ref
    argv = ["finetune", "--quick", "--selection", sel, "--l1", "1,4", "--steps", "600"]
    argv += ["--batch-tokens", "256", "--device", "cpu", "--json"]
    made = _rebuilt_equal(fault_ws, argv, "finetune", 150, "finetune")  # checkpoint: 100
    (art,) = [a for a in made.values() if a.kind == "ssae"]
    assert not (fault_ws.root / "runs" / art.key / "checkpoint.pt").exists()


@pytest.mark.slow
def test_a_killed_evaluation_and_a_killed_corpus_embedding_rebuild_the_same(fault_ws, tmp_path):
    """Both on 800 general documents written to a file (10 evaluation batches, enough to kill
    the job in the middle)."""
    import pandas as pd

    world = fault_ws.list("corpus")[0]
    docs = pd.read_parquet(world.file("docs.parquet"))
    general = docs[docs.split == "general"].text.head(800)
    corpus = tmp_path / "general.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": t}) for t in general) + "\n")
    argv = ["evaluate", "--quick", "--split", str(corpus), "--device", "cpu", "--json"]
    made = _rebuilt_equal(fault_ws, argv, "evaluate", 300, "evaluate")
    assert {a.kind for a in made.values()} == {"sae_eval"}
    argv = ["select", "--quick", "--seeds", "demo:physics", "--corpus", str(corpus)]
    argv += ["--method", "dense", "--tokens", "2000", "--json"]
    argv += ["--device", "cpu"]
    made = _rebuilt_equal(fault_ws, argv, "embed corpus", 256, "embed")
    assert "embeddings" in {a.kind for a in made.values()}


@pytest.mark.slow
def test_a_killed_study_resumes_to_the_same_cell(quick_build, tmp_path):
    """Killed while it finetunes, in a copy of the world with nothing trained, the relaunched
    study ends with every artifact of a straight run of the same seed in the session's workspace
    (which the other study tests then reuse)."""
    root, _ = quick_build
    argv = ["study", "--quick", "--seeds", "0", "--backend", "offline", "--device", "cpu", "--json"]
    run_cli(*argv, "--out", str(tmp_path / "straight"), "--workspace", str(root))
    fresh = world_only(root, tmp_path / "ws")
    before = set(_artifacts(fresh))
    argv += ["--out", str(tmp_path / "killed"), "--workspace", str(fresh.root)]
    _killed_then_resumed(fresh, "fault-study", argv, "finetune", 10)
    made = {ref: a for ref, a in _artifacts(fresh).items() if ref not in before}
    kinds = Counter(a.kind for a in made.values())
    assert kinds["study_cell"] == 1 and kinds["ssae"] >= 4 and kinds["sae_eval"] > 0, kinds
    straight, approx = Workspace(root), ("numbers.json", "figures.json")
    for ref, art in made.items():
        expected = straight.get(ref)
        for f in approx:
            if f in _hashes(art):
                assert _close(_loose(art.file(f)), _loose(expected.file(f))), (ref, f)
        assert {k: v for k, v in _hashes(art).items() if k not in approx} == {
            k: v for k, v in _hashes(expected).items() if k not in approx
        }, ref
        assert not list(art.path.parent.glob(".tmp-*")), "the killed build's temp directory"


class ClaudeServer(ThreadingHTTPServer):
    """A local stand-in for the Messages API that a worker process reaches through
    ``ANTHROPIC_BASE_URL``: each reply takes ``delay`` seconds and depends only on the request (the
    explanation is the most frequent marked token; the predictor says 1 where an excerpt holds it).
    ``asked`` counts the requests per system prompt."""

    def __init__(self, delay: float):
        super().__init__(("127.0.0.1", 0), _ClaudeHandler)
        self.delay, self.asked, self.lock = delay, Counter(), threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reply(self, body: dict) -> str:
        system, text = body["system"][0]["text"], body["messages"][0]["content"]
        with self.lock:
            self.asked[system] += 1
        if system == prompts.INTERPRETER_SYSTEM:
            marked = Counter(w.lower() for w in re.findall(r"<<(.+?)>>", text))
            return f"EXPLANATION: {sorted(marked, key=lambda w: (-marked[w], w))[0]}"
        word = re.search(r"^Feature description: (.+)$", text, re.M).group(1)
        excerpts = re.findall(r"^\d+\. (.*)$", text, re.M)
        return json.dumps([int(word in e.lower()) for e in excerpts])


class _ClaudeHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        time.sleep(self.server.delay)
        usage = {"input_tokens": 100, "output_tokens": 10}
        content = [{"type": "text", "text": self.server.reply(body)}]
        out = {"id": "msg", "type": "message", "role": "assistant", "model": body["model"]}
        out |= {"content": content, "stop_reason": "end_turn", "usage": usage}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def claude_server(monkeypatch):
    server = ClaudeServer(delay=0.3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-fault")
    yield server
    server.shutdown()


def _results(ws: Workspace) -> dict[str, tuple[bytes, int]]:
    """Every stored autointerp result: its bytes and modification time."""
    files = sorted((ws.root / "autointerp").glob("*/*.json"))
    return {str(f): (f.read_bytes(), f.stat().st_mtime_ns) for f in files}


@pytest.mark.slow
def test_a_killed_claude_autointerp_resumes_without_asking_again(fault_ws, claude_server):
    """Killed mid-stage, the relaunch asks Claude only about the features without a stored
    result, and every result equals an uninterrupted run's."""
    argv = ["autointerp", "--quick", "--split", "physics_test", "--backend", "claude"]
    argv += ["--model", "claude-test", "--features", "16", "--concurrency", "2", "--json"]
    argv += ["--device", "cpu", "--workspace", str(fault_ws.root)]
    before = set(_results(fault_ws))
    run_cli(*argv)
    straight = {f: data for f, (data, _) in _results(fault_ws).items() if f not in before}
    assert len(straight) == 16 and claude_server.asked[prompts.INTERPRETER_SYSTEM] == 16
    assert all(json.loads(d)["status"] == "ok" for d in straight.values())
    for f in straight:
        os.remove(f)
    claude_server.asked.clear()
    name = "fault-autointerp"
    jobs.launch(fault_ws, name, argv)
    assert _wait(lambda: len(set(_results(fault_ws)) - before) >= 4), jobs.status(fault_ws, name)
    os.killpg(jobs.status(fault_ws, name).pid, signal.SIGKILL)
    assert _wait(lambda: jobs.status(fault_ws, name).state == "failed")
    kept = {f: v for f, v in _results(fault_ws).items() if f not in before}
    assert 4 <= len(kept) < 16
    claude_server.asked.clear()
    jobs.launch(fault_ws, name, argv)
    assert _wait(lambda: jobs.status(fault_ws, name).state in jobs.FINAL)
    assert jobs.status(fault_ws, name).state == "done", jobs.status(fault_ws, name)
    after = {f: v for f, v in _results(fault_ws).items() if f not in before}
    assert {f: data for f, (data, _) in after.items()} == straight
    assert all(after[f] == v for f, v in kept.items()), "finished results are not rewritten"
    asked = claude_server.asked
    assert asked[prompts.INTERPRETER_SYSTEM] == asked[prompts.PREDICTOR_SYSTEM] == 16 - len(kept)


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
        "from ssae_core.infra.workspace import Workspace; ws = Workspace('" + str(ws) + "');"
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
