"""Per-token error norms for the heatmap: one batched pass vs a per-token Python loop, side by side.

    python bench/error_heatmap.py [--tokens 2000] [--saes 3]

The quick demo world's LM and GSAE (plus perturbed copies as extra SAEs); the time
covers the SAE part (encode, decode, norms) after the activations are collected once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sae_lens import StandardSAE  # noqa: E402

import ssae_core.demo  # noqa: E402, F401 (registers the demo base source)
from ssae_core.analysis import dark_matter as dm  # noqa: E402
from ssae_core.infra.workspace import Workspace  # noqa: E402
from ssae_core.models.activations import collect, pad_id  # noqa: E402
from ssae_core.models.base import BaseSpec, load_base  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--saes", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = load_base(BaseSpec(quick=True), Workspace(tmp), "cpu")
        tok = base.tokenizer
        docs = base.data.split_tokens("general_test")
        start = time.perf_counter()
        x, _, _ = collect(
            base.model,
            base.hook_name,
            docs[: args.tokens // 50 + 10],
            tok.bos_token_id,
            pad_id(tok),
        )
        x = x[: args.tokens]
        collect_s = time.perf_counter() - start
        saes = {"GSAE": base.sae}
        for i in range(1, args.saes):
            s = StandardSAE(base.sae.cfg)
            s.load_state_dict(
                {k: v + 0.01 * torch.randn_like(v) for k, v in base.sae.state_dict().items()}
            )
            saes[f"copy{i}"] = s

        def looped():
            with torch.no_grad():
                return [
                    float((row - sae.decode(sae.encode(row[None]))[0]).norm())
                    for sae in saes.values()
                    for row in x
                ]

        batched = lambda: dm.error_norms(saes, x)  # noqa: E731
        times = {"batched": [], "loop": []}
        for _ in range(3):
            for name, fn in (("batched", batched), ("loop", looped)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        b, lp = min(times["batched"]), min(times["loop"])
        assert np.allclose(dm.error_norms(saes, x).error_norm.to_numpy(), looped(), rtol=1e-4)
        k = len(x) / 1000
        print(f"{len(x)} tokens x {len(saes)} SAEs (d_in {x.shape[1]}, d_sae {base.sae.cfg.d_sae})")
        print(f"activations (LM to the hook): {collect_s / k * 1000:.1f} ms per 1k tokens")
        print(
            f"error norms, batched: {b / k * 1000:.2f} ms per 1k tokens; per-token loop:"
            f" {lp / k * 1000:.1f} ms per 1k tokens -> {lp / b:.0f}x"
        )


if __name__ == "__main__":
    main()
