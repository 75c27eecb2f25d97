"""Finetuning speed and memory, each against a baseline run side by side in this process.

    python bench/finetune.py [--device cpu|cuda] [--shapes 128x1024,512x4096] [--batch 4096]

1. One step of this project's trainer (``train.train_step`` on a one-SAE stack: forward,
   loss, backward, decoder-norm constraint, Adam) vs SAELens's own ``StandardTrainingSAE``
   (``training_forward_pass`` + backward + Adam) at the same d_in, width and batch.
2. An 8-value sparsity sweep as one stacked run vs 8 sequential single-SAE runs, each
   step including its read of the batch from an on-disk activation cache; and a tilt sweep
   (4 target ESS x 2 sparsity values) in one run vs one run per ESS.
3. TERM's per-step overhead over ERM: a fixed t, a relative t, and t picked for a target ESS.
   And one step of the default recipe (the GSAE extended by ``--extend`` latents, only those
   learning) vs SAELens's trainer on an SAE of the same total width, a new batch each step.
4. Peak RSS of a finetuning run (fresh process, the cache written by another) on N and 4N tokens.
Timings are medians over interleaved repetitions (the machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sae_lens import (
    StandardSAE,
    StandardSAEConfig,
    StandardTrainingSAE,
    StandardTrainingSAEConfig,
)  # noqa: E402
from sae_lens.saes.sae import TrainStepInput  # noqa: E402

from ssae_core.infra.workspace import Workspace  # noqa: E402
from ssae_core.models.activations import ActivationStore, CacheConfig  # noqa: E402
from ssae_core.models.sae_stack import SAEStack  # noqa: E402
from ssae_core.train import finetune as train_module  # noqa: E402
from ssae_core.train.finetune import FinetuneConfig, finetune, train_step  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_times(fns: dict, reps: int, device: str) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved round-robin after a warm-up."""
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(reps):
        for k, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def gsae(d_in: int, d_sae: int) -> StandardSAE:
    torch.manual_seed(0)
    sae = StandardSAE(StandardSAEConfig(d_in=d_in, d_sae=d_sae))
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_in, d_sae) / d_in**0.5)
        sae.W_dec.copy_(sae.W_enc.T / sae.W_enc.T.norm(dim=-1, keepdim=True))
    return sae


def ours_step(sae, x, device, sparsity=(3.5,), cfg=None):
    cfg = cfg or FinetuneConfig(sparsity=sparsity, steps=10**9)
    stack = SAEStack(sae, sparsity).to(device)
    opt = torch.optim.Adam(stack.parameters(), lr=cfg.lr)
    doc = np.arange(len(x))
    return lambda: train_step(stack, opt, x, doc, cfg, 0)


def saelens_step(d_in, d_sae, x, device):
    sae = StandardTrainingSAE(
        StandardTrainingSAEConfig(d_in=d_in, d_sae=d_sae, l1_coefficient=3.5, device=device)
    )
    opt = torch.optim.Adam(sae.parameters(), lr=5e-5)

    def step():
        out = sae.training_forward_pass(
            TrainStepInput(
                sae_in=x,
                coefficients={"l1": 3.5},
                dead_neuron_mask=None,
                n_training_steps=0,
                is_logging_step=False,
            )
        )
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()

    return step


def bench_step(d_in, d_sae, batch, device, reps):
    x = torch.randn(batch, d_in, device=device)
    t = median_times(
        {
            "ours": ours_step(gsae(d_in, d_sae), x, device),
            "saelens": saelens_step(d_in, d_sae, x, device),
        },
        reps,
        device,
    )
    return versus_saelens(f"{d_in}x{d_sae}", batch, t)


def versus_saelens(shape: str, batch: int, t: dict[str, float]) -> dict:
    """Tokens per second of ours and SAELens's step, and how many times faster ours is."""
    return {
        "shape": shape,
        "ours_tok_s": batch / t["ours"],
        "saelens_tok_s": batch / t["saelens"],
        "ratio": t["saelens"] / t["ours"],
    }


TILTS = {
    "t=500": dict(tilt=500.0),
    "t=1 relative": dict(tilt=1.0, tilt_scale="relative"),
    "ESS 0.2": dict(target_ess=0.2),
}


def bench_term(d_in, d_sae, batch, device, reps):
    """Per-step overhead over ERM of each way to tilt (the ESS target bisects t every step)."""
    x = torch.randn(batch, d_in, device=device)
    sae = gsae(d_in, d_sae)
    fns = {"erm": ours_step(sae, x, device)}
    for name, kw in TILTS.items():
        cfg = FinetuneConfig(objective="term", steps=10**9, **kw)
        fns[name] = ours_step(sae, x, device, cfg=cfg)
    t = median_times(fns, reps, device)
    return {"shape": f"{d_in}x{d_sae}", **{k: t[k] / t["erm"] - 1 for k in TILTS}}


def bench_extend(d_in, d_sae, extend, batch, device, reps):
    """One extended step (the frozen part computed once, no (batch, width) tensor per copy) vs
    SAELens's step at width ``d_sae + extend``; each call on another batch, as in training (the
    stack keeps the last batch's frozen part)."""
    xs = [torch.randn(batch, d_in, device=device) for _ in range(4)]
    turn = iter(range(10**9))
    cfg = FinetuneConfig.recipe(steps=10**9, extend=extend)
    stack = SAEStack(gsae(d_in, d_sae), cfg.stack_sparsity, extend=extend).to(device)
    opt = torch.optim.Adam(stack.parameters(), lr=cfg.lr)
    doc = np.arange(batch)
    theirs = [saelens_step(d_in, d_sae + extend, x, device) for x in xs]
    t = median_times(
        {
            "ours": lambda: train_step(stack, opt, xs[next(turn) % 4], doc, cfg, 0),
            "saelens": lambda: theirs[next(turn) % 4](),
        },
        reps,
        device,
    )
    return versus_saelens(f"{d_in}x{d_sae}+{extend}", batch, t)


def synthetic_cache(ws: Workspace, n: int, d_in: int, tag: int):
    def build(out):
        acts = np.lib.format.open_memmap(
            out / "acts.npy", mode="w+", dtype=np.float32, shape=(n, d_in)
        )
        rng = np.random.default_rng(tag)
        for start in range(0, n, 65536):
            acts[start : start + 65536] = rng.normal(size=(min(65536, n - start), d_in)).astype(
                np.float32
            )
        acts.flush()
        doc = np.arange(n, dtype=np.int32) // 100
        np.save(out / "doc.npy", doc)
        np.save(out / "pos.npy", np.arange(n, dtype=np.int32) % 100)
        np.save(out / "tokens.npy", np.zeros(n, np.int32))
        return {"tokens": n}

    return ws.build("activations", CacheConfig(version=10_000 + tag), build)


def bench_sweep(d_in, d_sae, batch, device, reps, ws, tilted: bool = False):
    """Per step, reading the batch from the cache: 8 SAEs as one stacked run vs separate runs.

    Untilted: an 8-value sparsity sweep vs 8 one-SAE runs. Tilted: 4 target ESS x 2 sparsity
    values as one ``ess_sweep`` run vs one 2-SAE run per ESS (what a user did before)."""
    store = ActivationStore(synthetic_cache(ws, 50 * batch, d_in, d_in))
    rng = np.random.default_rng(0)
    sae = gsae(d_in, d_sae)
    if tilted:
        term = FinetuneConfig(objective="term", sparsity=(1.0, 4.0), steps=10**9)
        shares = (0.5, 0.2, 0.05, 0.01)
        together = term.replace(ess_sweep=shares)
        alone = [term.replace(target_ess=e) for e in shares]
    else:
        values = tuple(float(v) for v in np.geomspace(0.5, 8, 8))
        together = FinetuneConfig(sparsity=values, steps=10**9)
        alone = [FinetuneConfig(sparsity=(v,), steps=10**9) for v in values]
    runs = [(c, SAEStack(sae, c.stack_sparsity).to(device)) for c in [together, *alone]]
    runs = [(c, s, torch.optim.Adam(s.parameters(), lr=5e-5)) for c, s in runs]
    doc = np.arange(batch)

    def step(cfg, stack, opt):
        x = store.rows(rng.integers(0, store.n, batch)).to(device)
        train_step(stack, opt, x, doc, cfg, 0)

    t = median_times(
        {
            "stacked": lambda: step(*runs[0]),
            "sequential": lambda: [step(*r) for r in runs[1:]],
        },
        reps,
        device,
    )
    return {
        "shape": f"{d_in}x{d_sae}",
        "stacked_tok_s": 8 * batch / t["stacked"],
        "sequential_tok_s": 8 * batch / t["sequential"],
        "ratio": t["sequential"] / t["stacked"],
    }


def _anon_mib() -> float:
    """Anonymous resident memory of this process (heap, tensors; not file pages), MiB."""
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class MemmapStore(ActivationStore):
    """The baseline reader (the previous one): rows read through a memmap of the file, which
    maps page-cache folios around every touched row into the process's RSS for a moment."""

    def rows(self, idx: np.ndarray) -> torch.Tensor:
        acts = np.load(self.art.file("acts.npy"), mmap_mode="r")
        order = np.argsort(idx, kind="stable")
        block = np.empty((len(idx), self.d_in), dtype=np.float32)
        block[order] = acts[np.asarray(idx)[order]]
        del acts
        return torch.from_numpy(block)


def read_ms(store: ActivationStore, batch: int, reps: int = 30) -> float:
    """Median milliseconds to read one random batch of rows."""
    rng = np.random.default_rng(0)
    times = []
    for _ in range(reps):
        idx = rng.choice(store.n, size=batch, replace=False)
        start = time.perf_counter()
        store.rows(idx)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def child_rss(
    root: str, n: int, d_in: int, d_sae: int, batch: int, steps: int, reader: str = "pread"
) -> dict:
    """Peak memory of finetuning on a cache of ``n`` tokens with ``reader`` (``pread``: today's
    ``ActivationStore``; ``memmap``: the baseline); with ``steps`` 0, only writes the cache (in
    its own process, so that writing it does not count towards the run's peak).

    Two peaks: ``peak_rss_mib`` (the kernel's high-water mark, which also counts the cache's
    file pages while a batch read has them mapped: reclaimable page cache) and
    ``peak_anon_mib`` (anonymous memory, sampled every 5 ms: what the run itself holds).
    """
    ws = Workspace(root)
    acts = synthetic_cache(ws, n, d_in, n)
    if not steps:
        return {}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cfg = FinetuneConfig(
        sparsity=(1.0, 4.0),
        steps=steps,
        batch_tokens=batch,
        checkpoint_every=10**6,
        val_fraction=0.001,
    )
    peak_anon, done = [_anon_mib()], threading.Event()

    def sample():
        while not done.wait(0.005):
            peak_anon[0] = max(peak_anon[0], _anon_mib())

    store = MemmapStore if reader == "memmap" else ActivationStore
    train_module.ActivationStore = store
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    finetune(ws, gsae(d_in, d_sae), "sae/bench", acts, cfg, "cpu")
    done.set()
    sampler.join()
    return {
        "reader": reader,
        "read_ms": read_ms(store(acts), batch),
        "tokens": n,
        "dataset_mib": n * d_in * 4 / 2**20,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_anon_mib": peak_anon[0],
        "rss_before_mib": before,
    }


def bench_memory(n: int, d_in: int, d_sae: int, batch: int) -> dict[str, list[dict]]:
    """Per reader: the runs at ``n`` and ``4 n`` tokens, each in a fresh process."""
    out: dict[str, list[dict]] = {"pread": [], "memmap": []}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (n, 4 * n):
            for steps, reader in ((0, ""), (30, "pread"), (30, "memmap")):
                args = json.dumps([tmp, size, d_in, d_sae, batch, steps, reader])
                cmd = [sys.executable, __file__, "--child-rss", args]
                res = subprocess.run(cmd, capture_output=True, text=True, check=True)
                if steps:
                    out[reader].append(json.loads(res.stdout.strip().splitlines()[-1]))
    return out


def print_memory(runs: dict[str, list[dict]]) -> None:
    for reader, (small, large) in runs.items():
        for r in (small, large):
            print(
                f"[rss]   {reader}: {r['tokens']:,} tokens ({r['dataset_mib']:.0f} MiB of"
                f" activations): peak RSS {r['peak_rss_mib']:.0f} MiB, anonymous"
                f" {r['peak_anon_mib']:.0f} MiB, {r['read_ms']:.1f} ms per batch read"
            )
        print(
            f"[rss]   {reader}: dataset x4 -> peak RSS"
            f" x{large['peak_rss_mib'] / small['peak_rss_mib']:.3f}, anonymous"
            f" x{large['peak_anon_mib'] / small['peak_anon_mib']:.3f}"
        )


def print_extend(shapes, args) -> None:
    for d_in, d_sae in shapes:
        r = bench_extend(d_in, d_sae, args.extend, args.batch, args.device, args.reps)
        print(
            f"[extend] {r['shape']}: ours {r['ours_tok_s']:,.0f} tok/s, SAELens at the full"
            f" width {r['saelens_tok_s']:,.0f} tok/s -> {r['ratio']:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shapes", default="128x1024,512x4096")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--extend", type=int, default=512, help="new latents (section 3)")
    parser.add_argument("--memory-tokens", type=int, default=500_000)
    parser.add_argument("--memory-only", action="store_true", help="only section 4")
    parser.add_argument("--extend-only", action="store_true", help="only the extended step")
    parser.add_argument("--child-rss", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    if args.child_rss:
        print(json.dumps(child_rss(*json.loads(args.child_rss))))
        return
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    if args.memory_only:
        print_memory(bench_memory(args.memory_tokens, *shapes[0], args.batch))
        return
    print(
        f"device {args.device}, batch {args.batch} tokens, torch {torch.__version__},"
        f" {torch.get_num_threads()} threads"
    )
    if args.extend_only:
        return print_extend(shapes, args)
    for d_in, d_sae in shapes:
        r = bench_step(d_in, d_sae, args.batch, args.device, args.reps)
        print(
            f"[step]  {r['shape']}: ours {r['ours_tok_s']:,.0f} tok/s, SAELens"
            f" {r['saelens_tok_s']:,.0f} tok/s -> {r['ratio']:.2f}x"
        )
    for d_in, d_sae in shapes:
        r = bench_term(d_in, d_sae, args.batch, args.device, args.reps)
        for name in TILTS:
            print(f"[term]  {r['shape']}: TERM ({name}) step vs ERM step: {r[name]:+.1%}")
    print_extend(shapes, args)
    with tempfile.TemporaryDirectory() as tmp:
        for d_in, d_sae in shapes:
            r = bench_sweep(
                d_in, d_sae, args.batch, args.device, max(3, args.reps // 3), Workspace(tmp)
            )
            print(
                f"[sweep] {r['shape']}: 8 SAEs stacked {r['stacked_tok_s']:,.0f} tok/s vs 8"
                f" sequential {r['sequential_tok_s']:,.0f} tok/s -> {r['ratio']:.2f}x"
            )
            reps = max(3, args.reps // 3)
            r = bench_sweep(d_in, d_sae, args.batch, args.device, reps, Workspace(tmp), True)
            print(
                f"[tilts] {r['shape']}: 4 ESS x 2 L1 in one run {r['stacked_tok_s']:,.0f} SAE-tok/s"
                f" vs a run per ESS {r['sequential_tok_s']:,.0f} SAE-tok/s -> {r['ratio']:.2f}x"
            )
    print_memory(bench_memory(args.memory_tokens, *shapes[0], args.batch))


if __name__ == "__main__":
    main()
