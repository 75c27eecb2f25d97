"""The Ray executor against the local one, side by side in one run, on this machine.

    python bench/ray_sweep.py [--workspace /tmp/fullws] [--steps 100] [--cpus 2]

1. Overhead per task: 16 tasks that return at once, through ``RayExecutor`` on a local Ray
   instance (``ray.init(num_cpus=CPUS)``; first run and a second, warm one) vs ``LocalExecutor``;
   the Ray instance's start is timed apart.
2. A 4-SAE-group sweep (the study's physics selections: bm25 ERM, random ERM, bm25 TERM at ESS
   0.2 and bm25 TERM t = 500, each a group of 4 L1 values) finetuned on the full demo world as 4
   tasks: wall time with each executor, each into its own fresh workspace holding the world and
   the two selections' activation caches (copied), and how far apart the weights are (a Ray task
   with one CPU runs torch on one thread, the local executor on all cores: float sums in another
   order, so equal up to rounding that 100 Adam steps carry; byte-identical where both use one
   thread, and in the CI test on the quick world).

On a 2-core machine Ray runs 2 one-thread tasks at a time where the local executor runs the 4
groups one after another with 2 threads each: the comparison shows the overhead, not a speed-up.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from safetensors.torch import load_file  # noqa: E402

import ssae_core.demo  # noqa: E402, F401 (registers the demo base source)
from ssae_core.infra.executor import (  # noqa: E402
    Context,
    ExecutorConfig,
    LocalExecutor,
    RayExecutor,
    Task,
    connect,
)
from ssae_core.infra.progress import Progress  # noqa: E402
from ssae_core.infra.workspace import Workspace  # noqa: E402
from ssae_core.models.base import BaseSpec, load_base  # noqa: E402
from ssae_core.study.cell import select_unit  # noqa: E402
from ssae_core.study.config import StudyConfig  # noqa: E402
from ssae_core.train.finetune import FinetuneConfig, finetune_task  # noqa: E402

WORLD_KINDS = ("corpus", "tokenizer", "lm", "sae", "world_report")


def noop(context: Context, i: int) -> int:
    return i


def overhead(ray_exec: RayExecutor, context: Context, n: int = 16) -> dict:
    """Seconds per task: local, Ray's first run (workers and the progress queue start) and a
    second run (warm)."""
    tasks = [Task(f"noop {i}", noop, (i,)) for i in range(n)]
    out = {}
    for name, ex in (("local", LocalExecutor()), ("ray cold", ray_exec), ("ray warm", ray_exec)):
        start = time.perf_counter()
        ex.run(tasks, context)
        out[name] = (time.perf_counter() - start) / n
    return out


def groups(acts: dict[str, str], steps: int) -> list[Task]:
    erm = FinetuneConfig.short((2.0, 3.5, 5.0, 8.0), steps, 4096, 1e-4)
    term = replace(erm, objective="term")
    configs = [
        ("bm25 ERM", acts["bm25"], erm),
        ("random ERM", acts["random"], erm),
        ("bm25 TERM ESS 0.2", acts["bm25"], replace(term, target_ess=0.2)),
        ("bm25 TERM t=500", acts["bm25"], replace(term, tilt_sweep=(500.0,))),
    ]
    return [Task(label, finetune_task, (ref, cfg), gpu=True) for label, ref, cfg in configs]


def weights(ws: Workspace) -> dict[str, dict]:
    """Every SSAE's tensors, by weight file path inside the workspace."""
    return {
        str(f.relative_to(ws.root)): load_file(f)
        for f in sorted((ws.root / "ssae").glob("*/sae_*/*.safetensors"))
    }


def compare(a: dict[str, dict], b: dict[str, dict]) -> str:
    """Same files? Byte-identical tensors, or the largest difference relative to the weights."""
    if a.keys() != b.keys():
        return f"different artifacts: {sorted(set(a) ^ set(b))}"
    worst = max(
        ((x[k] - y[k]).abs().max() / x[k].abs().max()).item()
        for f in a
        for x, y in [(a[f], b[f])]
        for k in x
    )
    return "byte-identical" if worst == 0 else f"largest |difference| / max |weight| = {worst:.1e}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workspace", default="/tmp/fullws")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--cpus", type=int, default=2)
    args = p.parse_args()
    source = Workspace(args.workspace)
    base = load_base(BaseSpec(), source, "cpu")
    study = StudyConfig()
    context = Context(source, base.spec, "cpu", Progress(), base)
    acts = {m: select_unit(context, study, "physics", 0, m)[0] for m in ("bm25", "random")}
    start = time.perf_counter()
    ray_exec = RayExecutor(ExecutorConfig("ray", ray_cpus=args.cpus))
    connect(ray_exec.cfg)
    started = time.perf_counter() - start
    print(f"[ray]   local Ray instance ({args.cpus} CPUs) started in {started:.1f} s")
    per_task = overhead(ray_exec, context)
    print("[noop]  per task: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in per_task.items()))
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, ex in (("local", LocalExecutor()), ("ray", ray_exec)):
            root = Path(tmp) / name
            for kind in WORLD_KINDS:
                shutil.copytree(source.root / kind, root / kind)
            for ref in acts.values():
                shutil.copytree(source.root / ref, root / ref)
            ws = Workspace(root)
            start = time.perf_counter()
            ex.run(groups(acts, args.steps), Context(ws, base.spec, "cpu", Progress(), base))
            wall = time.perf_counter() - start
            found[name] = weights(ws)
            print(f"[sweep] {name}: 4 groups x 4 L1 values, {args.steps} steps: {wall:.1f} s")
    print(f"[same]  {len(found['ray'])} SAEs vs the local executor's: {compare(*found.values())}")


if __name__ == "__main__":
    main()
