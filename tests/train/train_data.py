"""What the training tests share: a random GSAE of each architecture, an activation cache of
structured random data, a small run's settings, and progress that cancels a run."""

import math

import numpy as np
import torch
from sae_lens import (
    SAE,
    JumpReLUSAE,
    JumpReLUSAEConfig,
    StandardSAE,
    StandardSAEConfig,
    TopKSAE,
    TopKSAEConfig,
)

from ssae_core.infra.progress import Silent
from ssae_core.infra.workspace import Workspace
from ssae_core.models.activations import CacheConfig

D_IN, D_SAE = 16, 48


def random_sae(arch: str = "standard", seed: int = 0) -> SAE:
    torch.manual_seed(seed)
    if arch == "topk":
        sae = TopKSAE(TopKSAEConfig(d_in=D_IN, d_sae=D_SAE, k=6))
    elif arch == "jumprelu":
        sae = JumpReLUSAE(JumpReLUSAEConfig(d_in=D_IN, d_sae=D_SAE))
    else:
        sae = StandardSAE(StandardSAEConfig(d_in=D_IN, d_sae=D_SAE))
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(D_IN, D_SAE) / math.sqrt(D_IN))
        sae.W_dec.copy_(
            sae.W_enc.T * (1 + torch.rand(D_SAE, 1))
        )  # decoder norms != 1: folding is exercised
        sae.b_enc.fill_(-0.1)
        if arch == "jumprelu":
            sae.threshold.fill_(0.05)
    return sae


def activation_store(ws: Workspace, n_docs: int = 60, doc_len: int = 40, seed: int = 0):
    """An ``activations`` artifact of structured random data: sparse codes through a dictionary."""

    def build(out):
        rng = np.random.default_rng(seed)
        n = n_docs * doc_len
        codes = rng.exponential(1.0, (n, 64)) * (rng.random((n, 64)) < 0.08)
        x = codes @ rng.normal(size=(64, D_IN)) / 4 + rng.normal(scale=0.05, size=(n, D_IN))
        np.save(out / "acts.npy", x.astype(np.float32))
        np.save(out / "doc.npy", np.repeat(np.arange(n_docs), doc_len).astype(np.int32))
        np.save(out / "pos.npy", np.tile(np.arange(doc_len), n_docs).astype(np.int32))
        np.save(out / "tokens.npy", np.zeros(n, np.int32))
        return {"tokens": n}

    return ws.build("activations", CacheConfig(version=100 + seed * 1000 + n_docs), build)


SMALL = dict(steps=30, batch_tokens=256, lr=3e-3, decay_steps=10, log_every=5, checkpoint_every=8)


class StopAt(Silent):
    """Progress that cancels the run (like Ctrl-C or a job cancel) after ``n`` steps."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    def update(self, n=1, **info):
        self.seen += n
        if self.seen >= self.n:
            raise KeyboardInterrupt
