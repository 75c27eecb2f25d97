"""The demo world's tiny language model: a TransformerLens model trained on CPU.

Saved in this project's model format (``model_io``): ``tl_config.json`` (the
HookedTransformerConfig fields we set) and
``model.safetensors`` (the state dict), next to the tokenizer files, so it loads with
no download. Training packs documents into fixed windows, each document preceded by
BOS, the way GPT-2 style models are trained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sae_lens import HookedSAETransformer

from ssae_core.infra.config import Config
from ssae_core.models.model_io import build_model


@dataclass(frozen=True)
class LMConfig(Config):
    """Shape and training of the tiny LM."""

    n_layers: int = 3
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    n_ctx: int = 128
    steps: int = 300
    batch_size: int = 32  # sequences of n_ctx tokens
    lr: float = 2e-3
    warmup: int = 50
    seed: int = 0
    version: int = 1  # bump when the code that builds this artifact changes its output


def tl_config(cfg: LMConfig, d_vocab: int) -> dict:
    return {
        "n_layers": cfg.n_layers,
        "d_model": cfg.d_model,
        "n_heads": cfg.n_heads,
        "d_head": cfg.d_model // cfg.n_heads,
        "d_mlp": cfg.d_mlp,
        "n_ctx": cfg.n_ctx,
        "d_vocab": d_vocab,
        "act_fn": "gelu",
        "normalization_type": "LN",
        "model_name": "ssae-demo-lm",
        "seed": cfg.seed,
    }


def pack(doc_tokens: list[np.ndarray], bos: int, n_ctx: int) -> torch.Tensor:
    """Documents, each preceded by BOS, concatenated and cut into (n, n_ctx) windows."""
    stream = np.concatenate([np.concatenate([[bos], d]) for d in doc_tokens]).astype(np.int64)
    n = len(stream) // n_ctx
    return torch.from_numpy(stream[: n * n_ctx].reshape(n, n_ctx))


def train_lm(
    cfg: LMConfig,
    windows: torch.Tensor,
    d_vocab: int,
    device: torch.device,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[HookedSAETransformer, dict]:
    """Train the LM on packed windows with AdamW and a warmup + cosine schedule."""
    torch.manual_seed(cfg.seed)
    tl_cfg = tl_config(cfg, d_vocab)
    model = build_model(tl_cfg, device=device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg.warmup, cfg.steps))
    gen = torch.Generator().manual_seed(cfg.seed)
    losses = []
    for step in range(cfg.steps):
        idx = torch.randint(len(windows), (cfg.batch_size,), generator=gen)
        loss = model(windows[idx].to(device), return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if progress:
            progress(step + 1, losses[-1])
    return model.eval(), {"tl_config": tl_cfg, "final_train_loss": float(np.mean(losses[-20:]))}


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))
