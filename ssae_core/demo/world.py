"""Build and open the demo world: corpus -> tokenizer -> LM -> GSAE -> report, and its
registration as the ``demo`` base source.

Each step is a workspace artifact keyed by its config and the artifacts it used, so a
second build is a lookup and a changed config rebuilds only what depends on it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sae_lens import SAE

from ssae_core.demo import corpus, lm
from ssae_core.demo import tokenizer as tk
from ssae_core.demo.config import DemoConfig, TokenizerConfig
from ssae_core.demo.data import LM_SUBDIR, CorpusView, DemoWorld
from ssae_core.demo.report import build_report
from ssae_core.infra.device import pick_device
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Artifact, Step, Workspace
from ssae_core.models import model_io
from ssae_core.models.base import Base, BaseSpec
from ssae_core.train.gsae import SAE_SUBDIR, GSAETrainConfig, train_gsae_on

__all__ = [
    "DemoConfig",
    "DemoWorld",
    "build",
    "find",
    "gsae_widths",
    "copy_base",
    "load_base",
    "world_base",
]


def build(
    cfg: DemoConfig | None = None,
    workspace: Workspace | None = None,
    device: str | None = None,
    progress: Progress | None = None,
) -> DemoWorld:
    """Build (or reuse) every artifact of the demo world and return it."""
    ws = workspace or Workspace()
    return _chain(ws, cfg or DemoConfig(), ws.build, pick_device(device), progress or Silent())


def find(cfg: DemoConfig, workspace: Workspace, device: str | None = None) -> DemoWorld | None:
    """The demo world for ``cfg`` if every artifact of it is built and intact, else None."""
    return workspace.find_chain(
        lambda step: _chain(workspace, cfg, step, pick_device(device), Silent())
    )


def load_base(
    spec: BaseSpec, workspace: Workspace | None, device: torch.device, progress: Progress | None
) -> Base:
    """The ``demo`` base source: the world (built on first use) as a ``Base``."""
    world = build(
        DemoConfig.quick() if spec.quick else DemoConfig(), workspace, str(device), progress
    )
    return world_base(world, spec)


def world_base(world: DemoWorld, spec: BaseSpec) -> Base:
    """The world's LM and GSAE as a ``Base`` whose data is the world."""
    return Base(world.model, world.gsae, world.hook_name, spec, world)


def _chain(
    ws: Workspace, cfg: DemoConfig, step: Step, dev: torch.device, progress: Progress
) -> DemoWorld:
    """The world's artifacts in order, each obtained through ``step``."""
    corpus_art = step("corpus", cfg.world, lambda d: _build_corpus(cfg.world, d, progress))
    tok_art = step(
        "tokenizer",
        TokenizerConfig(),
        lambda d: _build_tokenizer(corpus_art, d, progress),
        [corpus_art.ref],
    )
    lm_art = step(
        "lm",
        cfg.lm,
        lambda d: _build_lm(cfg.lm, corpus_art, tok_art, d, dev, progress),
        [tok_art.ref],
    )
    gsae_art = _gsae(
        ws, cfg.gsae, CorpusView(corpus_art, tok_art), tok_art, lm_art, dev, progress, step
    )
    partial = DemoWorld(cfg, corpus_art, tok_art, lm_art, gsae_art, None, dev)
    report_art = step(
        "world_report",
        cfg.report,
        lambda d: build_report(partial, d, progress),
        [corpus_art.ref, lm_art.ref, gsae_art.ref],
    )
    return DemoWorld(cfg, corpus_art, tok_art, lm_art, gsae_art, report_art, dev)


def _build_corpus(cfg: corpus.WorldConfig, out: Path, progress: Progress) -> dict:
    progress.stage("generate corpus", None)
    docs, labels = corpus.generate(cfg)
    docs.to_parquet(out / "docs.parquet", index=False)
    np.save(out / "labels.npy", labels)
    concepts = corpus.concept_table(docs, labels)
    concepts.to_parquet(out / "concepts.parquet", index=False)
    return {
        "documents": int(len(docs)),
        "words": int(len(labels)),
        "concepts": int(len(concepts)),
        "docs_per_split": docs.split.value_counts().sort_index().to_dict(),
        "words_per_split": docs.groupby("split").n_words.sum().sort_index().astype(int).to_dict(),
        "pool": corpus.pool_coverage(docs, concepts),
    }


def _build_tokenizer(corpus_art: Artifact, out: Path, progress: Progress) -> dict:
    progress.stage("train tokenizer", None)
    docs = pd.read_parquet(corpus_art.file("docs.parquet"))
    tok = tk.train_tokenizer(docs.text)
    tk.save_tokenizer(tok, out)
    encoded = tok.encode_batch(list(docs.text), add_special_tokens=False)
    if any(len(e.ids) != n for e, n in zip(encoded, docs.n_words)):
        raise RuntimeError(
            "the tokenizer does not map each word to one token; labels would misalign"
        )
    tokens = np.concatenate([np.asarray(e.ids, dtype=np.int32) for e in encoded])
    np.save(out / "tokens.npy", tokens)
    return {"vocab_size": tok.get_vocab_size()}


def _build_lm(cfg: lm.LMConfig, corpus_art, tok_art, out: Path, device, progress: Progress) -> dict:
    world = CorpusView(corpus_art, tok_art)
    tokenizer = tk.load_tokenizer(tok_art.path)
    windows = lm.pack(world.split_tokens("general"), tokenizer.bos_token_id, cfg.n_ctx)
    progress.stage("train LM", cfg.steps)
    model, info = lm.train_lm(
        cfg, windows, len(tokenizer), device, lambda s, loss: progress.update(1, loss=loss)
    )
    target = out / LM_SUBDIR
    target.mkdir()
    model_io.save_model(model, info["tl_config"], target)
    tokenizer.save_pretrained(str(target))
    return {"final_train_loss": info["final_train_loss"], "train_windows": int(len(windows))}


def _gsae(
    ws: Workspace,
    cfg: GSAETrainConfig,
    corpus: CorpusView,
    tok_art: Artifact,
    lm_art: Artifact,
    device: torch.device,
    progress: Progress,
    step: Step | None = None,
) -> Artifact:
    """The ``gsae`` artifact of ``cfg`` on the world's general corpus (``train.gsae``, the one
    GSAE trainer)."""
    model_dir = lm_art.path / LM_SUBDIR
    model = model_io.load_model(model_dir, tk.load_tokenizer(model_dir), device)
    docs, docs_ref = corpus.split_tokens("general"), f"{tok_art.ref}:general"
    return train_gsae_on(ws, model, lm_art.ref, docs, docs_ref, cfg, str(device), progress, step)


def gsae_widths(
    world: DemoWorld,
    expansions: list[int],
    workspace: Workspace,
    progress: Progress | None = None,
    target_l0: float = 0.0,
) -> dict[int, SAE]:
    """GSAEs of other widths (d_sae = expansion x d_in), trained like the world's own, by d_sae;
    with ``target_l0`` > 0, each with its sparsity coefficient steered to that L0.

    For width series (dark matter: does nonlinear FVU stay flat as SAEs grow?). Each is
    built once.
    """
    progress = progress or Silent()
    out = {}
    for e in expansions:
        cfg = world.config.gsae.replace(expansion=e, target_l0=target_l0)
        art = _gsae(
            workspace, cfg, world.corpus, world.tokenizer_art, world.lm_art, world.device, progress
        )
        sae = SAE.load_from_disk(art.path / SAE_SUBDIR, device=str(world.device))
        out[sae.cfg.d_sae] = sae
    return out


def copy_base(world: DemoWorld, target: Path) -> None:
    """Copy the LM and GSAE into ``target/model`` and ``target/sae`` (local-directory format)."""
    shutil.copytree(world.model_dir, target / "model")
    shutil.copytree(world.gsae_dir, target / "sae", ignore=shutil.ignore_patterns("manifest.json"))
