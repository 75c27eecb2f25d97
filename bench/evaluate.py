"""Spliced-CE evaluation throughput: ``metrics.evaluate_saes`` vs SAELens's ``get_recons_loss``
(the CE and KL part of ``run_evals``) on the same model, SAEs and token batches, side by side.

    python bench/evaluate.py [--workspace DIR] [--full] [--saes 1,4] [--tokens 100000]

Both compute clean, spliced and zero-ablated CE, and the KL divergence of the spliced and
zero-ablated next-token distributions from the clean one, on identical (rows, n_ctx) batches
(BOS + n_ctx - 1 tokens of the demo corpus). With several SAEs at one hook, this project
runs the LM once up to the hook and only the rest per SAE; SAELens runs each SAE's
evaluation separately. Prints tokens/s and the ratio (target >= 1.0x).
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
from sae_lens.evals import get_recons_loss  # noqa: E402
from sae_lens.training.activation_scaler import ActivationScaler  # noqa: E402

import ssae_core.demo  # noqa: E402, F401 (registers the demo base source)
from ssae_core.evaluate.metrics import evaluate_saes  # noqa: E402
from ssae_core.infra.workspace import Workspace  # noqa: E402
from ssae_core.models.activations import pad_id  # noqa: E402
from ssae_core.models.base import BaseSpec, load_base  # noqa: E402


def perturbed(sae, seed):
    torch.manual_seed(seed)
    out = StandardSAE(sae.cfg)
    out.load_state_dict({k: v + 0.01 * torch.randn_like(v) for k, v in sae.state_dict().items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace")
    parser.add_argument(
        "--full", action="store_true", help="the full demo world (built if missing)"
    )
    parser.add_argument("--saes", default="1,4")
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=128, help="sequences per batch (both sides)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = load_base(
            BaseSpec(quick=not args.full), Workspace(args.workspace or tmp), args.device
        )
        model, tok = base.model, base.tokenizer
        width = model.cfg.n_ctx - 1
        stream = np.concatenate(base.data.split_tokens("general"))
        n_docs = min(args.tokens // width, len(stream) // width)
        docs = [stream[i * width : (i + 1) * width] for i in range(n_docs)]
        batches = [
            torch.tensor(
                [[tok.bos_token_id, *d] for d in docs[i : i + args.rows]], device=args.device
            )
            for i in range(0, n_docs, args.rows)
        ]
        n_tokens = n_docs * width
        print(
            f"{n_docs} sequences x {model.cfg.n_ctx} tokens, {args.rows} per batch, d_in"
            f" {model.cfg.d_model}, d_sae {base.sae.cfg.d_sae}"
        )
        scaler = ActivationScaler()
        for k in (int(v) for v in args.saes.split(",")):
            saes = {f"s{i}": base.sae if i == 0 else perturbed(base.sae, i) for i in range(k)}

            def ours():
                return evaluate_saes(
                    model,
                    saes,
                    base.hook_name,
                    docs,
                    tok.bos_token_id,
                    pad_id(tok),
                    batch_tokens=args.rows * model.cfg.n_ctx,
                )

            def theirs():
                with torch.no_grad():
                    for sae in saes.values():
                        for b in batches:
                            get_recons_loss(
                                sae,
                                model,
                                scaler,
                                b,
                                compute_kl=True,
                                compute_ce_loss=True,
                                hook_name=base.hook_name,
                            )

            times = {"ours": [], "saelens": []}
            ours(), theirs()  # warm-up
            for _ in range(3):
                for name, fn in (("ours", ours), ("saelens", theirs)):
                    start = time.perf_counter()
                    fn()
                    if args.device.startswith("cuda"):
                        torch.cuda.synchronize()
                    times[name].append(time.perf_counter() - start)
            t_ours, t_theirs = min(times["ours"]), min(times["saelens"])
            print(
                f"{k} SAE(s): ours {k * n_tokens / t_ours:,.0f} SAE-tokens/s, SAELens"
                f" get_recons_loss {k * n_tokens / t_theirs:,.0f} -> {t_theirs / t_ours:.2f}x"
            )


if __name__ == "__main__":
    main()
