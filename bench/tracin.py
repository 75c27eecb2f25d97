"""Closed-form SAE-TracIn vs per-token autograd, same SAE, same tokens, same run.

    python bench/tracin.py [--device cpu|cuda]

For each SAE shape (the demo GSAE's 128 -> 1024 and the paper's Gemma-2B GSAE shape
2048 -> 16384, random weights) it scores the same tokens both ways, checks they agree,
and prints the time per token of each and the speed-up.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import sae_lens as sl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ssae_core.select import tracin  # noqa: E402


def random_sae(d_in: int, d_sae: int, device):
    """A ReLU SAE with unit-norm decoder rows, a tied encoder and a slightly negative bias."""
    gen = torch.Generator().manual_seed(0)
    W_dec = torch.randn(d_sae, d_in, generator=gen)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    sae = sl.StandardSAE(sl.StandardSAEConfig(d_in=d_in, d_sae=d_sae))
    with torch.no_grad():
        sae.W_dec.copy_(W_dec)
        sae.W_enc.copy_(W_dec.T)
        sae.b_enc.fill_(-0.05)
        sae.b_dec.zero_()
    return sae.to(device)


def per_token_seconds(fn, n_tokens: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best / n_tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    for d_in, d_sae, n_slow, n_fast in [(128, 1024, 64, 4096), (2048, 16384, 8, 512)]:
        sae = random_sae(d_in, d_sae, device)
        p = tracin.params(sae)
        gen = torch.Generator().manual_seed(1)
        seed_x = torch.randn(256, d_in, generator=gen).to(device)
        x = torch.randn(n_fast, d_in, generator=gen).to(device)
        G = tracin.mean_gradient(sae, seed_x, l1=1.0)
        fast = tracin.token_scores(p, x[:n_slow], G, 1.0)
        slow = tracin.autograd_token_scores(sae, x[:n_slow], G, 1.0).to(device)
        rel = ((fast - slow).abs().max() / slow.abs().max()).item()
        t_fast = per_token_seconds(lambda: tracin.token_scores(p, x, G, 1.0), n_fast)
        t_slow = per_token_seconds(
            lambda: tracin.autograd_token_scores(sae, x[:n_slow], G, 1.0), n_slow, repeats=1
        )
        print(
            f"d_in {d_in:5d} d_sae {d_sae:6d} [{device}]: autograd {t_slow * 1e3:9.3f} ms/token,"
            f" closed form {t_fast * 1e3:8.4f} ms/token, speed-up {t_slow / t_fast:8.0f}x, max rel"
            f" diff {rel:.1e}"
        )


if __name__ == "__main__":
    main()
