"""The paper's sweep at its scale, projected from a measured training step on this device.

    python bench/projection.py [--device cpu|cuda] [--d-in 2048] [--width 16384] [--batch 4096]
                               [--stack 1,2] [--tokens 13900000] [--groups 18] [--per-group 8]

Measures one finetuning step (``train.train_step``: forward, loss, backward, decoder-norm
constraint, Adam) of a stack of K SAEs at the paper's shape (a 2048-wide residual stream, 8x
expansion) for each K in ``--stack``, as the median of 3 steps after a warm-up; the time per
SAE-token is the slope over K (a stack costs K single steps: BENCHMARKS.md). Then projects the
paper's grid: ``--groups`` sweeps (6 selection strategies x 3 seeds) of ``--per-group`` L1 values
(8), each SAE trained on ``--tokens`` tokens (13.9M) once, with the Ray executor putting one sweep
per task on G devices: ceil(groups / G) rounds of one sweep each. Activation caching (the LM's
forward pass over the selections) is not included.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from finetune import gsae, median_times, ours_step  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--d-in", type=int, default=2048)
    p.add_argument("--width", type=int, default=16384)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--stack", default="1,2")
    p.add_argument("--tokens", type=float, default=13.9e6)
    p.add_argument("--groups", type=int, default=18)
    p.add_argument("--per-group", type=int, default=8)
    args = p.parse_args()
    torch.set_grad_enabled(True)
    x = torch.randn(args.batch, args.d_in, device=args.device)
    sae = gsae(args.d_in, args.width)
    ks = [int(k) for k in args.stack.split(",")]
    steps = {}
    for k in ks:
        step = ours_step(sae, x, args.device, sparsity=tuple(1.0 + i for i in range(k)))
        steps[k] = median_times({k: step}, 3, args.device)[k]
        print(
            f"[step]  {args.d_in} -> {args.width}, {k} SAE(s), batch {args.batch}: {steps[k]:.3f} s"
        )
    if len(ks) > 1:
        per_sae = (steps[ks[-1]] - steps[ks[0]]) / (ks[-1] - ks[0])
    else:
        per_sae = steps[ks[0]] / ks[0]
    per_token = per_sae / args.batch
    flops = 12 * args.d_in * args.width * args.batch / per_sae
    print(f"[rate]  {per_token * 1e6:.2f} us per SAE-token ({flops / 1e9:.0f} GFLOP/s achieved)")
    sweep = args.per_group * args.tokens * per_token
    print(
        f"[grid]  {args.groups} sweeps x {args.per_group} SAEs x {args.tokens / 1e6:.1f}M tokens:"
        f" one sweep {sweep / 3600:.2f} h on one device"
    )
    for devices in (1, 4):
        rounds = math.ceil(args.groups / devices)
        print(
            f"[proj]  {devices} device(s), one sweep per Ray task: {rounds} rounds,"
            f" {rounds * sweep / 3600:.1f} h"
        )


if __name__ == "__main__":
    main()
