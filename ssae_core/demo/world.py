"""Build and open the demo world: corpus -> tokenizer -> LM -> GSAE -> report.

Each step is a workspace artifact keyed by its config and the artifacts it used, so a
second build is a lookup and a changed config rebuilds only what depends on it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sae_lens import SAE

from ssae_core import lens, model_io, tail
from ssae_core.activations import collect
from ssae_core.concepts import KINDS, heldout_feature_f1, probe_f1, recall_by_bucket, truths
from ssae_core.config import Config
from ssae_core.data import TextSet
from ssae_core.demo import corpus, gsae, lm
from ssae_core.demo import tokenizer as tk
from ssae_core.device import pick_device
from ssae_core.errors import ConfigError
from ssae_core.metrics import evaluate_saes
from ssae_core.progress import Progress, Silent
from ssae_core.sae_math import encode_rows
from ssae_core.workspace import Artifact, Step, Workspace, atomic_write_json

LM_SUBDIR = "model"


@dataclass(frozen=True)
class TokenizerConfig(Config):
    kind: str = "word-level"


@dataclass(frozen=True)
class ReportConfig(Config):
    recall_threshold: float = 0.5
    lens_k: int = 10  # logit-lens tokens per feature for the rare-token coverage
    version: int = 3
    """2: held-out thresholds, token- and context-level ground truth. 3: rare-token coverage."""


@dataclass(frozen=True)
class DemoConfig(Config):
    """The whole demo world: text, LM, GSAE. ``quick()`` is the miniature for tests."""

    world: corpus.WorldConfig = field(default_factory=corpus.WorldConfig)
    lm: lm.LMConfig = field(default_factory=lm.LMConfig)
    gsae: gsae.GSAEConfig = field(default_factory=gsae.GSAEConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    @classmethod
    def quick(cls) -> DemoConfig:
        return cls(
            world=corpus.WorldConfig(
                n_general_docs=2500,
                n_general_test_docs=200,
                seed_tokens=2000,
                n_test_docs=60,
                n_ood_docs=60,
            ),
            lm=lm.LMConfig(n_layers=2, d_model=64, n_heads=2, d_mlp=256, steps=80, batch_size=16),
            gsae=gsae.GSAEConfig(l1=3.0, steps=200, batch_size=1024, resample_every=50),
        )

    @property
    def hook_name(self) -> str:
        layer = self.gsae.layer if self.gsae.layer >= 0 else self.lm.n_layers // 2
        return f"blocks.{layer}.hook_resid_post"


@dataclass
class DemoWorld:
    """A built demo world: its artifacts and lazy accessors for what is in them."""

    config: DemoConfig
    corpus_art: Artifact
    tokenizer_art: Artifact
    lm_art: Artifact
    gsae_art: Artifact
    report_art: Artifact | None  # None only while the report itself is being built
    device: torch.device

    @property
    def hook_name(self) -> str:
        return self.config.hook_name

    @property
    def model_dir(self) -> Path:
        return self.lm_art.path / LM_SUBDIR

    @property
    def gsae_dir(self) -> Path:
        return self.gsae_art.path

    @cached_property
    def corpus(self) -> CorpusView:
        return CorpusView(self.corpus_art, self.tokenizer_art)

    @property
    def docs(self) -> pd.DataFrame:
        return self.corpus.docs

    @cached_property
    def concepts(self) -> pd.DataFrame:
        return pd.read_parquet(self.corpus_art.file("concepts.parquet"))

    @cached_property
    def tokenizer(self):
        return tk.load_tokenizer(self.model_dir)

    @cached_property
    def model(self):
        return model_io.load_model(self.model_dir, self.tokenizer, self.device)

    @cached_property
    def gsae(self) -> SAE:
        return SAE.load_from_disk(self.gsae_dir, device=str(self.device))

    @property
    def report(self) -> dict:
        return self.report_art.summary if self.report_art else {}

    @property
    def subdomains(self) -> list[str]:
        """The subdomains the world writes seed, test and OOD splits for (e.g. physics)."""
        return corpus.subdomains()

    @property
    def test_splits(self) -> list[str]:
        """Every test split: per subdomain in-domain and OOD, then the general one."""
        per_sub = [f"{sub}_{kind}" for sub in self.subdomains for kind in ("test", "ood")]
        return [*per_sub, "general_test"]

    @property
    def seed_splits(self) -> list[str]:
        """The seed set of each subdomain (``<subdomain>_seed``)."""
        return [f"{sub}_seed" for sub in self.subdomains]

    def split_tokens(self, split: str) -> list[np.ndarray]:
        return self.corpus.split_tokens(split)

    def split_labels(self, split: str) -> list[np.ndarray]:
        return self.corpus.split_labels(split)

    def text_set(self, split: str) -> TextSet:
        """A split's documents as a TextSet (doc ids are the world's)."""
        rows = self.corpus.split_docs(split)
        return TextSet(
            rows[["doc_id", "text"]].reset_index(drop=True),
            {"source": f"demo:{split}", "documents": len(rows)},
        )

    def in_domain(self, subdomain: str, split: str = "general") -> pd.Series:
        """Ground truth for selection precision: doc_id -> document belongs to ``subdomain``."""
        rows = self.corpus.split_docs(split)
        return pd.Series((rows.domain == subdomain).to_numpy(), index=rows.doc_id.to_numpy())


class CorpusView:
    """The corpus's documents with their token ids and concept labels, by split."""

    def __init__(self, corpus_art: Artifact, tokenizer_art: Artifact):
        self.docs = pd.read_parquet(corpus_art.file("docs.parquet"))
        self.labels = np.load(corpus_art.file("labels.npy"))
        self.tokens = np.load(tokenizer_art.file("tokens.npy"))

    def split_docs(self, split: str) -> pd.DataFrame:
        rows = self.docs[self.docs.split == split]
        if rows.empty:
            raise ConfigError(
                f"The demo world has no split {split!r}; it has {sorted(self.docs.split.unique())}."
            )
        return rows

    def split_tokens(self, split: str) -> list[np.ndarray]:
        """Token ids per document of a split (no BOS)."""
        rows = self.split_docs(split)
        return [self.tokens[s : s + n] for s, n in zip(rows.start, rows.n_words)]

    def split_labels(self, split: str) -> list[np.ndarray]:
        """Concept ids per token per document of a split (-1: no concept)."""
        rows = self.split_docs(split)
        return [self.labels[s : s + n] for s, n in zip(rows.start, rows.n_words)]


def build(
    cfg: DemoConfig | None = None,
    workspace: Workspace | None = None,
    device: str | None = None,
    progress: Progress | None = None,
) -> DemoWorld:
    """Build (or reuse) every artifact of the demo world and return it."""
    ws = workspace or Workspace()
    return _chain(cfg or DemoConfig(), ws.build, pick_device(device), progress or Silent())


def find(cfg: DemoConfig, workspace: Workspace, device: str | None = None) -> DemoWorld | None:
    """The demo world for ``cfg`` if every artifact of it is built and intact, else None."""
    return workspace.find_chain(lambda step: _chain(cfg, step, pick_device(device), Silent()))


def _chain(cfg: DemoConfig, step: Step, dev: torch.device, progress: Progress) -> DemoWorld:
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
    gsae_art = step(
        "sae",
        cfg.gsae,
        lambda d: _build_gsae(cfg, corpus_art, tok_art, lm_art, d, dev, progress),
        [lm_art.ref],
    )
    partial = DemoWorld(cfg, corpus_art, tok_art, lm_art, gsae_art, None, dev)
    report_art = step(
        "world_report",
        cfg.report,
        lambda d: _build_report(partial, d, progress),
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


def _build_gsae(
    cfg: DemoConfig,
    corpus_art,
    tok_art,
    lm_art,
    out: Path,
    device,
    progress: Progress,
    target_l0: float = 0.0,
) -> dict:
    world = CorpusView(corpus_art, tok_art)
    model_dir = lm_art.path / LM_SUBDIR
    tokenizer = tk.load_tokenizer(model_dir)
    model = model_io.load_model(model_dir, tokenizer, device)
    docs = world.split_tokens("general")
    progress.stage("collect LM activations", len(docs))
    acts, _, _ = collect(
        model, cfg.hook_name, docs, tokenizer.bos_token_id, tokenizer.pad_token_id, progress.update
    )
    d_in = model.cfg.d_model
    sae = gsae.new_sae(
        d_in, d_in * cfg.gsae.expansion, cfg.hook_name, model.cfg.model_name, model.cfg.n_ctx
    )
    progress.stage("train GSAE", cfg.gsae.steps)
    stats = gsae.train_gsae(
        cfg.gsae,
        acts,
        sae,
        device,
        lambda s, st: progress.update(1, l0=st["l0"], mse=st["mse"]),
        target_l0,
    )
    sae.save_model(out)
    return {"train_tokens": int(len(acts)), "final": stats}


def gsae_widths(
    world: DemoWorld,
    expansions: list[int],
    workspace: Workspace,
    progress: Progress | None = None,
    target_l0: float = 0.0,
) -> dict[int, SAE]:
    """GSAEs of other widths (d_sae = expansion x d_in), trained like the world's own, by d_sae;
    with ``target_l0`` > 0, each with its L1 coefficient steered to that L0
    (``gsae.MatchedL0Config``).

    For width series (dark matter: does nonlinear FVU stay flat as SAEs grow?). Each is
    built once.
    """
    progress = progress or Silent()
    out = {}
    for e in expansions:
        cfg = world.config.replace(gsae=world.config.gsae.replace(expansion=e))
        key = gsae.MatchedL0Config(cfg.gsae, target_l0) if target_l0 else cfg.gsae
        art = workspace.build(
            "sae",
            key,
            lambda d, cfg=cfg: _build_gsae(
                cfg,
                world.corpus_art,
                world.tokenizer_art,
                world.lm_art,
                d,
                world.device,
                progress,
                target_l0,
            ),
            [world.lm_art.ref],
        )
        sae = SAE.load_from_disk(art.path, device=str(world.device))
        out[sae.cfg.d_sae] = sae
    return out


def _build_report(world: DemoWorld, out: Path, progress: Progress) -> dict:
    """The world's summary: LM vs unigram CE, GSAE quality, concept recall per bucket."""
    tokenizer = world.tokenizer
    bos, pad = tokenizer.bos_token_id, tokenizer.pad_token_id
    test = world.split_tokens("general_test")
    progress.stage("evaluate GSAE", len(test))
    start = time.time()
    gsae_metrics = evaluate_saes(
        world.model, {"gsae": world.gsae}, world.hook_name, test, bos, pad, progress.update
    )["gsae"]
    unigram = unigram_ce(
        np.concatenate(world.split_tokens("general")), np.concatenate(test), len(tokenizer)
    )
    per_concept = concept_scores(world, progress)
    per_concept.to_parquet(out / "concept_recall.parquet", index=False)
    table = recall_table(per_concept, world.config.report.recall_threshold)
    atomic_write_json(out / "recall_by_bucket.json", table.to_dict(orient="records"))
    d_model = world.model.cfg.d_model
    coverage = {
        split: rare_token_coverage(world, split, world.config.report.lens_k)
        for split in (f"{sub}_test" for sub in world.subdomains)
    }
    return {
        "lm": {
            "heldout_ce": gsae_metrics["ce_clean"],
            "unigram_ce": unigram,
            "ce_ratio_to_unigram": gsae_metrics["ce_clean"] / unigram,
        },
        "gsae": {
            **gsae_metrics,
            "d_sae": world.gsae.cfg.d_sae,
            "d_in": d_model,
            "l0_target_max": d_model / 4,
        },
        "recall_by_bucket": table.to_dict(orient="records"),
        "rare_token_coverage": coverage,
        "eval_seconds": round(time.time() - start, 2),
    }


def rare_token_coverage(world: DemoWorld, split: str, k: int) -> dict:
    """How saturated the GSAE's logit lens is on a split's rarest tokens (``tail``): the distinct
    tokens of the rarest frequency bucket, and how many are in the top-``k`` of a feature that
    fires on the split."""
    docs = world.split_tokens(split)
    tok = world.tokenizer
    acts, _, _ = collect(world.model, world.hook_name, docs, tok.bos_token_id, tok.pad_token_id)
    fired = (encode_rows(world.gsae, acts) > 0).any(0).cpu().numpy()
    top, _ = lens.logit_lens(world.model, world.gsae.W_dec.detach(), k)
    freq = tail.frequency_buckets(np.concatenate(docs))
    rarest = tail.coverage_by_bucket(freq, tail.covered_tokens(top, fired)).iloc[0]
    return {"tokens": int(rarest.tokens), "covered": int(rarest.covered), "share": rarest.share}


def unigram_ce(train: np.ndarray, test: np.ndarray, vocab: int) -> float:
    """Cross-entropy (nats) of an add-one unigram model fit on ``train``, on ``test``."""
    counts = np.bincount(train, minlength=vocab).astype(np.float64) + 1
    return float(-np.log(counts[test] / counts.sum()).mean())


PROBE = "linear probe"
"""The linear-probe ceiling's name in recall tables."""

RECALL_SCORES = {
    "gsae": "best_f1",
    "probe": "probe_f1",
    **{f"gsae_{kind}": f"{kind}_f1" for kind in KINDS},
    **{f"probe_{kind}": f"probe_{kind}_f1" for kind in KINDS},
}
"""Recall-table prefix -> per-concept score column (``gsae`` / ``probe``: the better kind)."""


def recall_table(per_concept: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per frequency bucket: concepts, then ``<prefix>_recalled`` and ``<prefix>_recall`` for
    every entry of ``RECALL_SCORES``."""
    table = None
    for prefix, column in RECALL_SCORES.items():
        part = recall_by_bucket(per_concept, column, threshold).rename(
            columns={"recalled": f"{prefix}_recalled", "recall": f"{prefix}_recall"}
        )
        table = part if table is None else table.merge(part.drop(columns="concepts"), "outer")
    order = {b: i for i, b in enumerate(corpus.BUCKETS)}
    return table.sort_values("bucket", key=lambda s: s.map(order)).reset_index(drop=True)


def recall_by_kind(table: pd.DataFrame) -> pd.DataFrame:
    """``recall_table`` as one row per kind and bucket with ``GSAE`` and ``PROBE`` recall columns
    (what ``plots.concept_recall_bars`` draws)."""
    return pd.concat(
        table[["bucket", "concepts"]].assign(
            kind=kind, GSAE=table[f"gsae_{kind}_recall"], **{PROBE: table[f"probe_{kind}_recall"]}
        )
        for kind in KINDS
    )


def concept_scores(world: DemoWorld, progress: Progress) -> pd.DataFrame:
    """Per concept and ground-truth kind: the GSAE's held-out best-feature F1
    (``concepts.heldout_feature_f1``) and a linear probe's held-out F1, each concept on its own
    domain's test text; ``best_f1`` / ``probe_f1`` are the better of the two kinds.

    General-topic concepts are scored on ``general_test``, each subdomain's concepts on
    that subdomain's in-domain test split.
    """
    n = len(world.concepts)
    parts = []
    for split, keep, acts, truth in _concept_split_acts(world, progress):
        feats = encode_rows(world.gsae, acts)
        part = pd.DataFrame({"concept_id": np.arange(n), "split": split})
        part["n_tokens"] = truth["token"].sum(0).numpy()
        for kind in KINDS:
            scored = heldout_feature_f1(feats, truth[kind])
            part[f"{kind}_f1"] = scored.heldout_f1
            part[f"{kind}_feature"] = scored.best_feature
            part[f"probe_{kind}_f1"] = probe_f1(acts, truth[kind])
        part["best_f1"] = np.fmax(part.token_f1, part.context_f1)
        part["probe_f1"] = np.fmax(part.probe_token_f1, part.probe_context_f1)
        parts.append(part[keep])
    scores = pd.concat(parts).sort_values("concept_id")
    return world.concepts.merge(scores, on="concept_id", suffixes=("", "_test"))


def sae_concept_f1(world: DemoWorld, saes: dict, progress: Progress) -> pd.DataFrame:
    """Long table (sae, kind, concept_id, bucket, domain, best_feature, best_f1) for any SAEs at
    the world's hook, and the linear probe (sae ``PROBE``) as the ceiling.

    Scored as ``concept_scores`` scores the GSAE (each concept on its own domain's test split,
    held-out thresholds, both ground-truth kinds).
    """
    parts = []
    for split, keep, acts, truth in _concept_split_acts(world, progress):
        for name, sae in saes.items():
            feats = encode_rows(sae, acts)
            for kind in KINDS:
                scored = heldout_feature_f1(feats, truth[kind])
                part = scored.rename(columns={"heldout_f1": "best_f1"})[keep]
                parts.append(part.assign(sae=name, kind=kind, split=split))
        for kind in KINDS:
            probe = pd.DataFrame({"concept_id": np.arange(truth[kind].shape[1])})
            probe["best_f1"], probe["best_feature"] = probe_f1(acts, truth[kind]), -1
            parts.append(probe[keep].assign(sae=PROBE, kind=kind, split=split))
    scores = pd.concat(parts, ignore_index=True)
    return scores.merge(world.concepts[["concept_id", "domain", "bucket"]], on="concept_id")


def _concept_split_acts(world: DemoWorld, progress: Progress):
    """Per scoring split: (split, which concepts it scores, activations, ground truths by kind)."""
    concepts = world.concepts
    tokenizer = world.tokenizer
    for split, domains in _concept_splits(concepts).items():
        docs = world.split_tokens(split)
        progress.stage(f"concept recall on {split}", len(docs))
        acts, doc, pos = collect(
            world.model,
            world.hook_name,
            docs,
            tokenizer.bos_token_id,
            tokenizer.pad_token_id,
            progress.update,
        )
        per_doc = world.split_labels(split)
        labels = np.concatenate(per_doc)[_flat_index(per_doc, doc, pos)]
        truth = truths(labels, doc, pos, len(concepts))
        yield split, concepts.domain.isin(domains).to_numpy(), acts, truth


def _concept_splits(concepts: pd.DataFrame) -> dict[str, list[str]]:
    general = sorted(concepts.loc[~concepts.subdomain, "domain"].unique())
    splits = {"general_test": general}
    for sub in corpus.subdomains():
        splits[f"{sub}_test"] = [sub]
    return splits


def _flat_index(per_doc: list[np.ndarray], doc: np.ndarray, pos: np.ndarray) -> np.ndarray:
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in per_doc])])
    return offsets[doc] + pos


def copy_base(world: DemoWorld, target: Path) -> None:
    """Copy the LM and GSAE into ``target/model`` and ``target/sae`` (local-directory format)."""
    shutil.copytree(world.model_dir, target / "model")
    shutil.copytree(world.gsae_dir, target / "sae", ignore=shutil.ignore_patterns("manifest.json"))


def demo_summary(world: DemoWorld, seconds: float) -> dict:
    """The numbers a researcher checks first about a demo world."""
    report = world.report
    return {
        "workspace": str(world.corpus_art.path.parent.parent),
        "seconds": round(seconds, 2),
        "hook_name": world.hook_name,
        "corpus": world.corpus_art.summary,
        "lm": {**report["lm"], "path": str(world.model_dir)},
        "gsae": {**report["gsae"], "path": str(world.gsae_dir)},
        "recall_by_bucket": report["recall_by_bucket"],
        "rare_token_coverage": report["rare_token_coverage"],
        "step_seconds": step_seconds(world),
    }


def step_seconds(world: DemoWorld) -> dict[str, float]:
    """Wall time of each build step on the machine that built it (from the manifests)."""
    arts = {
        "corpus": world.corpus_art,
        "tokenizer": world.tokenizer_art,
        "LM": world.lm_art,
        "GSAE": world.gsae_art,
        "report": world.report_art,
    }
    return {step: float(art.manifest.get("wall_s", 0.0)) for step, art in arts.items()}


def format_demo_summary(s: dict) -> str:
    """``demo_summary`` as the text ``python -m ssae_core demo build`` prints."""
    lm, g = s["lm"], s["gsae"]
    lines = [
        f"Demo world ready in {s['seconds']:.1f} s  (workspace {s['workspace']})",
        (
            f"  corpus: {s['corpus']['documents']} documents, {s['corpus']['words']} tokens,"
            f" {s['corpus']['concepts']} concepts"
        ),
        (
            f"  LM: held-out CE {lm['heldout_ce']:.3f} nats vs unigram {lm['unigram_ce']:.3f} "
            f"({lm['ce_ratio_to_unigram']:.0%} of unigram)   {lm['path']}"
        ),
        (
            f"  GSAE at {s['hook_name']} (d_sae {g['d_sae']}): L0 {g['l0']:.1f} (target <="
            f" {g['l0_target_max']:.0f}), explained variance {g['explained_variance']:.3f}, dead"
            f" {g['dead_fraction']:.1%}"
        ),
        (
            f"    CE clean {g['ce_clean']:.3f}, with GSAE {g['ce_spliced']:.3f}, zero-ablated"
            f" {g['ce_zero_ablation']:.3f}, CE loss recovered {g['ce_loss_recovered']:.3f}  "
            f" {g['path']}"
        ),
        (
            "  concepts one GSAE feature detects with held-out F1 >= 0.5, token or context level"
            " (and a linear probe), by frequency in the general corpus:"
        ),
    ]
    for row in s["recall_by_bucket"]:
        lines.append(
            f"    {row['bucket']:<18} {int(row['gsae_recalled']):>3}/{int(row['concepts']):<3} SAE"
            f" ({row['gsae_recall']:.0%})  "
            f" {int(row['probe_recalled']):>3}/{int(row['concepts']):<3} probe"
            f" ({row['probe_recall']:.0%})"
        )
    lines.append(
        "  rarest-bucket tokens in the GSAE's logit-lens top tokens (tail-token coverage):"
    )
    for split, c in s["rare_token_coverage"].items():
        lines.append(f"    {split:<18} {c['covered']:>4}/{c['tokens']:<4} ({c['share']:.0%})")
    return "\n".join(lines)
