"""Train a general SAE (GSAE) from scratch: the one GSAE trainer, for ``gsae train`` (a model
that has none) and for the demo world's GSAE and its width series.

A GSAE is an SAE trained on general text; here it is the finetuning recipe (``train.finetune``,
ERM, Eq. 1 of the SSAE paper with one sparsity value) started from a fresh SAE instead of a
pretrained one, so it gets the same progress, checkpoints, resume and held-out metrics, and the
same schedule: a sparsity warm-up, L0 steering to a target (``train.schedule``; GSAEs of several
widths at one L0) and dead-latent resampling (``train.resample``). The documents (a corpus's
first ``tokens`` tokens, or token ids given as they are) are cached at the hook (the LM stops at
the hooked block) and the SAE starts with random unit-norm decoder rows, the encoder tied to
them (W_enc = W_decᵀ), b_enc = 0 and b_dec at the activations' mean.

The ``gsae`` artifact holds ``sae_0/`` in SAELens format (``cfg.json`` with the hook, model name
and context size + ``sae_weights.safetensors``): give that directory as ``--sae-dir`` with the
same ``--model-dir`` to use the pair as a base.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import sae_lens as sl
import torch
from sae_lens.saes.sae import SAEMetadata

from ssae_core.infra.config import Config, added
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.progress import Progress
from ssae_core.infra.workspace import Artifact, Step, Workspace
from ssae_core.models import sae_math
from ssae_core.models.activations import ActivationStore, CacheConfig, cache_activations
from ssae_core.models.base import BaseSpec
from ssae_core.select import retrieval
from ssae_core.select.data import TextSet
from ssae_core.select.selection import texts_ref
from ssae_core.train.finetune import FinetuneConfig, finetune

SAE_SUBDIR = "sae_0"


@dataclass(frozen=True)
class GSAETrainConfig(Config):
    """A GSAE trained from scratch on general text."""

    hook: str = ""
    """The hook it reads, e.g. blocks.6.hook_resid_post (default: the middle block's
    hook_resid_post)."""
    arch: Literal["standard", "topk", "jumprelu"] = "standard"
    """standard (ReLU + L1), topk, or jumprelu (with an L0 penalty)."""
    expansion: int = 8
    """Latents per input dimension (d_sae = expansion × d_in)."""
    sparsity: float = 5.0
    """L1 coefficient (standard), L0 coefficient (jumprelu) or k, latents per token (topk)."""
    tokens: int = 200_000
    """Corpus tokens to cache and train on (documents in corpus order until this many)."""
    steps: int = 2000
    """Optimizer steps."""
    batch_tokens: int = 1024
    """Tokens per batch."""
    lr: float = 1e-3
    """Learning rate (Adam; decays linearly to 0 over the last fifth of the steps)."""
    seed: int = 0
    version: int = 1
    sparsity_warmup: float = added(0.0)
    """Share of the steps over which the sparsity coefficient rises linearly from 0 (standard,
    jumprelu)."""
    target_l0: float = added(0.0)
    """If > 0 (standard, jumprelu): steer the sparsity coefficient so that L0 approaches this."""
    resample_every: int = added(0)
    """Every this many steps, re-initialize latents that have not fired in as many steps toward
    badly reconstructed inputs, until 80% of the steps (0: never)."""

    def validate(self) -> GSAETrainConfig:
        if self.arch not in ("standard", "topk", "jumprelu"):
            raise ConfigError(f"--arch must be standard, topk or jumprelu, not {self.arch!r}.")
        for name in ("expansion", "tokens"):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"--{name} must be a positive integer, not {getattr(self, name)}."
                )
        if self.arch == "topk" and (self.sparsity < 1 or self.sparsity != int(self.sparsity)):
            raise ConfigError(
                f"A TopK SAE needs a whole k >= 1 as --sparsity, not {self.sparsity}."
            )
        self.finetune_config().validate()
        return self

    def hook_name(self, model) -> str:
        """``hook``, or the middle block's residual stream; ConfigError if ``model`` lacks it."""
        hook = self.hook or f"blocks.{model.cfg.n_layers // 2}.hook_resid_post"
        if hook not in model.hook_dict or not hook.startswith("blocks."):
            raise ConfigError(
                f"--hook {hook!r} is not a block hook of this {model.cfg.n_layers}-layer model;"
                f" use e.g. blocks.{model.cfg.n_layers // 2}.hook_resid_post."
            )
        return hook

    def finetune_config(self) -> FinetuneConfig:
        return FinetuneConfig(
            sparsity=(float(self.sparsity),),
            steps=self.steps,
            batch_tokens=self.batch_tokens,
            lr=self.lr,
            decay_steps=max(1, self.steps // 5),
            seed=self.seed,
            sparsity_warmup=int(self.sparsity_warmup * self.steps),
            target_l0=self.target_l0,
            resample_every=self.resample_every,
        )


def corpus_tokens(texts: TextSet, tokenizer, n_ctx: int, budget: int) -> list[np.ndarray]:
    """Token ids of the corpus's first documents, up to ``budget`` tokens in all (the last
    document cut to fit)."""
    docs, total, all_texts = [], 0, texts.texts  # the property builds a new list per call
    for start in range(0, len(all_texts), 256):
        for ids in retrieval.tokenize(all_texts[start : start + 256], tokenizer, n_ctx):
            take = ids[: budget - total]
            if len(take):
                docs.append(take)
                total += len(take)
            if total >= budget:
                return docs
    return docs


def fresh_sae(
    cfg: GSAETrainConfig, d_in: int, hook: str, model_name: str, n_ctx: int, mean: torch.Tensor
) -> sl.SAE:
    """A new SAELens SAE of ``cfg.arch``: random unit-norm decoder rows, the encoder tied to them,
    b_enc = 0, b_dec = ``mean``."""
    meta = SAEMetadata(hook_name=hook, model_name=model_name, context_size=n_ctx, prepend_bos=True)
    dims = {"d_in": d_in, "d_sae": cfg.expansion * d_in, "metadata": meta}
    sae = {
        "standard": lambda: sl.StandardSAE(sl.StandardSAEConfig(**dims)),
        "topk": lambda: sl.TopKSAE(sl.TopKSAEConfig(k=int(cfg.sparsity), **dims)),
        "jumprelu": lambda: sl.JumpReLUSAE(sl.JumpReLUSAEConfig(**dims)),
    }[cfg.arch]()
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        w_dec = torch.randn(dims["d_sae"], d_in, generator=gen)
        sae_math.normalize_decoder_(w_dec)
        sae.W_dec.copy_(w_dec)
        sae.W_enc.copy_(w_dec.T)
        sae.b_enc.zero_()
        sae.b_dec.copy_(mean)
        if cfg.arch == "jumprelu":
            sae.threshold.fill_(1e-3)
    return sae


class ModelReader(NamedTuple):
    """What an activation cache reads: an LM, the hook, and the ref that names the LM."""

    model: Any
    hook_name: str
    ref: str

    @property
    def tokenizer(self):
        return self.model.tokenizer


def local_model_ref(model_dir: str) -> str:
    """The ref that names a local model directory among a GSAE's inputs."""
    return f"base/{BaseSpec(source='local', model_dir=model_dir).digest()}"


def trained_for(ws: Workspace, model_dir: str) -> list[Artifact]:
    """The GSAEs trained in this workspace for the local model at ``model_dir``, newest first."""
    ref = local_model_ref(model_dir)
    found = []
    for art in ws.list("gsae"):
        acts = [r for r in art.manifest["inputs"] if r.startswith("activations/")]
        if acts and ref in ws.get(acts[0]).manifest["inputs"]:
            found.append(art)
    return sorted(found, key=lambda a: a.path.stat().st_mtime, reverse=True)


def train_gsae(
    ws: Workspace,
    model,
    model_ref: str,
    corpus: TextSet,
    cfg: GSAETrainConfig,
    device: str | None = None,
    progress: Progress | None = None,
) -> Artifact:
    """The ``gsae`` artifact: ``cfg``'s SAE trained on the first ``cfg.tokens`` tokens of
    ``corpus`` at its hook of ``model`` (named ``model_ref``: ``local_model_ref`` for a model
    directory)."""
    cfg.validate()
    docs = corpus_tokens(corpus, model.tokenizer, model.cfg.n_ctx, cfg.tokens)
    docs_ref = f"{texts_ref(corpus)}@{cfg.tokens}"
    return train_gsae_on(ws, model, model_ref, docs, docs_ref, cfg, device, progress)


def train_gsae_on(
    ws: Workspace,
    model,
    model_ref: str,
    docs: list[np.ndarray],
    docs_ref: str,
    cfg: GSAETrainConfig,
    device: str | None = None,
    progress: Progress | None = None,
    step: Step | None = None,
) -> Artifact:
    """The ``gsae`` artifact of ``cfg``'s SAE trained on ``docs`` (token ids, named
    ``docs_ref``) at its hook of ``model``; ``step``: how artifacts are obtained (default
    ``ws.build``; ``Workspace.find_chain`` looks them up only)."""
    reader = ModelReader(model, cfg.validate().hook_name(model), model_ref)
    acts = cache_activations(ws, reader, docs, docs_ref, CacheConfig(), progress, step)
    store = ActivationStore(acts)
    sample = np.linspace(0, store.n - 1, min(store.n, 100_000)).astype(np.int64)
    mean = store.rows(sample).mean(0)
    name = model.cfg.model_name
    sae = fresh_sae(cfg, model.cfg.d_model, reader.hook_name, name, model.cfg.n_ctx, mean)
    init_ref = f"init/{cfg.digest()}"
    ft = cfg.finetune_config()
    return finetune(ws, sae, init_ref, acts, ft, device, progress, step, kind="gsae")
