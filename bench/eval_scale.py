"""Evaluation's memory at two data sizes: the GSAE and one SSAE evaluated on N and 4N documents.

    python bench/eval_scale.py [--workspace /tmp/fullws] [--docs 3000]

Each size runs in a fresh process, twice: as evaluation runs (``heap.trim`` after every batch:
freed heap blocks go back to the system) and, as the baseline, without the trim. The process
loads the full demo world's base, then
evaluates the
GSAE and the world's first stored SSAE (``evaluate.evaluate``: CE / KL / FVU, feature stats,
logit lens) on the general corpus's first N documents (4N for the second). The measure is the
growth of VmRSS during the evaluation (sampled every 20 ms, its maximum minus its value before),
so loading the model does not count; tokens/s is printed too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from act_scale import Sampler, vm_rss_mib  # noqa: E402


def child(workspace: str, n_docs: int, scratch: str, heap: str) -> dict:
    import ssae_core.demo  # noqa: F401 (registers the demo base source)
    from ssae_core.evaluate import metrics
    from ssae_core.models.base import BaseSpec, load_base

    if heap == "none":
        metrics.trim = lambda: False
    from ssae_core.evaluate.evaluation import TokenSplit, evaluate
    from ssae_core.evaluate.sae_set import NamedSAE
    from ssae_core.infra.workspace import Workspace
    from ssae_core.train.finetune import load_ssaes

    source = Workspace(workspace)
    base = load_base(BaseSpec(), source, "cpu")
    ssae = source.list("ssae")[0]
    docs = base.data.split_tokens("general")[:n_docs]
    split = TokenSplit(f"general[:{n_docs}]", f"bench/general-{n_docs}", docs)
    ws = Workspace(scratch)  # the evaluations are written here, not into the world's workspace
    saes = [
        NamedSAE(base.ref, "GSAE", base.sae, "GSAE"),
        NamedSAE(f"{ssae.ref}#0", "SSAE", load_ssaes(ssae, "cpu")[0], "SSAE"),
    ]
    before = vm_rss_mib()
    with Sampler() as sampler:
        start = time.perf_counter()
        evaluate(ws, base, saes, split)
        seconds = time.perf_counter() - start
    tokens = sum(len(d) for d in docs)
    return {
        "heap": heap,
        "docs": n_docs,
        "tokens": tokens,
        "saes": len(saes),
        "rss_before": round(before),
        "growth_mib": round(sampler.peak - before, 1),
        "tokens_per_s": round(tokens / seconds),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workspace", default="/tmp/fullws")
    p.add_argument("--docs", type=int, default=3000)
    p.add_argument("--child", type=int)
    p.add_argument("--heap", default="trim")
    args = p.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(child(args.workspace, args.child, tmp, args.heap)))
        return
    for heap in ("trim", "none"):
        rows = []
        for n in (args.docs, 4 * args.docs):
            cmd = [sys.executable, __file__, "--workspace", args.workspace, "--child", str(n)]
            out = subprocess.run([*cmd, "--heap", heap], capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr[-3000:])
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
        growth = rows[1]["growth_mib"] / rows[0]["growth_mib"]
        print(f"[eval]  {heap} heap: data x4 -> RSS growth x{growth:.2f}", flush=True)


if __name__ == "__main__":
    main()
