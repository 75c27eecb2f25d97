"""Evaluate SAEs on token splits: one ``sae_eval`` artifact per (SAE, split).

Every SAE that is not evaluated yet on a split shares one LM pass over it
(``metrics.evaluate_saes``). An artifact holds the metrics (summary), ``features.parquet``
(per feature: count, frequency, mean / max activation, histogram, top documents,
logit-lens top and bottom tokens) and the split's tokens (``tokens.npy`` + ``offsets.npy``,
so examples can be shown without the source text).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ssae_core.evaluate.features import FeatureStats
from ssae_core.evaluate.metrics import SAEMetrics, evaluate_saes
from ssae_core.evaluate.sae_set import NamedSAE
from ssae_core.infra.config import Config
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Artifact, Workspace
from ssae_core.models import lens
from ssae_core.models.activations import pad_id

if TYPE_CHECKING:
    from ssae_core.models.base import Base
    from ssae_core.models.source import BaseData


@dataclass(frozen=True)
class EvalConfig(Config):
    top_k: int = 50  # top-activating documents kept per feature
    lens_k: int = 10  # logit-lens tokens kept per feature (top and bottom)
    batch_tokens: int = 8192
    version: int = 2  # 2: SAEBench's core metrics (``metrics``)


@dataclass
class TokenSplit:
    """Documents as token ids (no BOS) under a name and a stable ref."""

    name: str
    ref: str
    docs: list[np.ndarray]


def named_split(data: BaseData, split: str) -> TokenSplit:
    """A split the base ships (e.g. the demo world's ``physics_test``) as a TokenSplit."""
    docs = data.split_tokens(split)
    if not docs:
        raise ConfigError(
            f"The {data.name} base has no split {split!r}; use one of {data.test_splits}."
        )
    return TokenSplit(split, data.split_ref(split), docs)


def evaluate_splits(
    ws: Workspace,
    base: Base,
    saes: list[NamedSAE],
    splits: list[str],
    progress: Progress | None = None,
) -> None:
    """``evaluate`` the SAEs on each of the base's named ``splits`` (stored ones are reused)."""
    for split in splits:
        evaluate(ws, base, saes, named_split(base.data, split), progress=progress or Silent())


def token_split(spec: str, base: Base, text_field: str = "text") -> TokenSplit:
    """A test split from a split name of the base's data (the demo world's) or a text file /
    folder, tokenized for ``base``."""
    from ssae_core.select import data, retrieval
    from ssae_core.select.selection import texts_ref

    if base.data is not None and not Path(spec).exists():
        return named_split(base.data, spec)
    texts = data.load_texts(spec, data.IngestConfig(text_field=text_field))
    return TokenSplit(
        Path(spec).stem,
        texts_ref(texts),
        retrieval.tokenize(texts.texts, base.tokenizer, base.model.cfg.n_ctx),
    )


def check_comparable(saes: list[NamedSAE], base: Base, split: TokenSplit) -> None:
    """ConfigError unless every SAE reads the base's hook at its width and the split fits the
    tokenizer."""
    if not split.docs or not sum(len(d) for d in split.docs):
        raise ConfigError(
            f"The split {split.name!r} has no tokens; give a test set with text in it."
        )
    for s in saes:
        hook = s.sae.cfg.metadata.hook_name
        if hook != base.hook_name or s.sae.cfg.d_in != base.model.cfg.d_model:
            raise ConfigError(
                f"{s.label} reads {hook} (d_in {s.sae.cfg.d_in}) but the base model's SAEs read"
                f" {base.hook_name} (d_in {base.model.cfg.d_model}); compare SAEs of one hook."
            )
    top = max(int(d.max()) for d in split.docs if len(d))
    if top >= base.model.cfg.d_vocab:
        raise ConfigError(
            f"The split {split.name!r} holds token id {top}, outside the model's vocabulary"
            f" ({base.model.cfg.d_vocab}): it was tokenized with another tokenizer."
        )


def evaluate(
    ws: Workspace,
    base: Base,
    saes: list[NamedSAE],
    split: TokenSplit,
    cfg: EvalConfig = EvalConfig(),
    progress: Progress | None = None,
) -> dict[str, Artifact]:
    """The ``sae_eval`` artifact of every SAE on ``split`` (ref -> artifact), computing the missing
    ones in one pass."""
    progress = progress or Silent()
    check_comparable(saes, base, split)
    inputs = {s.ref: _inputs(base, s.ref, split) for s in saes}
    done = {s.ref: find_eval(ws, base, s.ref, split, cfg) for s in saes}
    todo = [s for s in saes if done[s.ref] is None]
    if todo:
        results, stats = _shared_pass(base, todo, split, cfg, progress)
        for s in todo:
            done[s.ref] = ws.build(
                "sae_eval",
                cfg,
                _writer(base, s, split, results[s.ref], stats[s.ref], cfg),
                inputs[s.ref],
            )
    return done


def _inputs(base: Base, sae_ref: str, split: TokenSplit) -> list[str]:
    return [sae_ref, split.ref, base.ref]


def find_eval(
    ws: Workspace, base: Base, sae_ref: str, split: TokenSplit, cfg: EvalConfig = EvalConfig()
) -> Artifact | None:
    """The stored ``sae_eval`` artifact of SAE ``sae_ref`` on ``split``, or None."""
    return ws.find("sae_eval", cfg, _inputs(base, sae_ref, split))


def _shared_pass(
    base: Base, saes: list[NamedSAE], split: TokenSplit, cfg: EvalConfig, progress: Progress
):
    device = base.model.cfg.device
    stats = {s.ref: FeatureStats(s.sae.cfg.d_sae, cfg.top_k, device) for s in saes}
    progress.stage(f"evaluate {len(saes)} SAE(s) on {split.name}", len(split.docs))
    tok = base.tokenizer
    results = evaluate_saes(
        base.model,
        {s.ref: s.sae for s in saes},
        base.hook_name,
        split.docs,
        tok.bos_token_id,
        pad_id(tok),
        progress.update,
        stats,
        cfg.batch_tokens,
    )
    return results, stats


def _writer(
    base: Base,
    s: NamedSAE,
    split: TokenSplit,
    metrics: SAEMetrics,
    stats: FeatureStats,
    cfg: EvalConfig,
):
    def build(out: Path) -> dict:
        table = stats.table()
        top, bottom = lens.logit_lens(base.model, s.sae.W_dec.detach(), cfg.lens_k)
        table["lens_top"], table["lens_bottom"] = list(top), list(bottom)
        table.to_parquet(out / "features.parquet", index=False)
        np.save(out / "tokens.npy", np.concatenate(split.docs).astype(np.int32))
        np.save(
            out / "offsets.npy",
            np.concatenate([[0], np.cumsum([len(d) for d in split.docs])]).astype(np.int64),
        )
        return {
            "label": s.label,
            "group": s.group or s.label,
            "sae": s.ref,
            "split": split.name,
            **asdict(metrics),
        }

    return build


def load_features(art: Artifact) -> pd.DataFrame:
    return pd.read_parquet(art.file("features.parquet"))


def split_docs(art: Artifact) -> list[np.ndarray]:
    """The evaluated split's documents (token ids), as stored with the evaluation."""
    tokens, offsets = np.load(art.file("tokens.npy")), np.load(art.file("offsets.npy"))
    return [tokens[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
