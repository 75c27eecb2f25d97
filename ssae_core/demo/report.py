"""The demo world's report (what ``demo build`` prints and Home shows): the LM against a unigram
model, the GSAE's metrics, ground-truth concept recall per frequency bucket against a linear
probe, and the GSAE's logit-lens coverage of each subdomain's rarest tokens."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ssae_core.demo.data import DemoWorld
from ssae_core.demo.summary import (
    CorpusStats,
    Coverage,
    DemoSummary,
    GSAEReport,
    LMReport,
    WorldReport,
)
from ssae_core.evaluate import tail
from ssae_core.evaluate.concepts import concept_scores, recall_table
from ssae_core.evaluate.metrics import evaluate_saes
from ssae_core.infra.progress import Progress
from ssae_core.infra.workspace import atomic_write_json
from ssae_core.models import lens
from ssae_core.models.activations import collect
from ssae_core.models.sae_math import encode_rows


def build_report(world: DemoWorld, out: Path, progress: Progress) -> dict:
    """The world's summary (``WorldReport.to_dict``): LM vs unigram CE, GSAE quality, concept
    recall per bucket, rare-token coverage."""
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
    per_concept = concept_scores(world.model, world.hook_name, world, world.gsae, progress)
    per_concept.to_parquet(out / "concept_recall.parquet", index=False)
    table = recall_table(per_concept, world.config.report.recall_threshold)
    atomic_write_json(out / "recall_by_bucket.json", table.to_dict(orient="records"))
    d_model = world.model.cfg.d_model
    coverage = {
        split: rare_token_coverage(world, split, world.config.report.lens_k)
        for split in (f"{sub}_test" for sub in world.subdomains)
    }
    report = WorldReport(
        LMReport(gsae_metrics.ce_clean, unigram, gsae_metrics.ce_clean / unigram),
        GSAEReport(gsae_metrics, world.gsae.cfg.d_sae, d_model, d_model / 4),
        table.to_dict(orient="records"),
        coverage,
        round(time.time() - start, 2),
    )
    return report.to_dict()


def rare_token_coverage(world: DemoWorld, split: str, k: int) -> Coverage:
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
    return Coverage(int(rarest.tokens), int(rarest.covered), float(rarest.share))


def unigram_ce(train: np.ndarray, test: np.ndarray, vocab: int) -> float:
    """Cross-entropy (nats) of an add-one unigram model fit on ``train``, on ``test``."""
    counts = np.bincount(train, minlength=vocab).astype(np.float64) + 1
    return float(-np.log(counts[test] / counts.sum()).mean())


def demo_summary(world: DemoWorld, seconds: float) -> DemoSummary:
    """The numbers a researcher checks first about a demo world."""
    return DemoSummary(
        str(world.corpus_art.path.parent.parent),
        round(seconds, 2),
        world.hook_name,
        CorpusStats(**world.corpus_art.summary),
        world.report,
        str(world.model_dir),
        str(world.gsae_dir),
        step_seconds(world),
    )


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


def format_demo_summary(s: DemoSummary) -> str:
    """``demo_summary`` as the text ``python -m ssae_core demo build`` prints."""
    lm, g, m, c = s.report.lm, s.report.gsae, s.report.gsae.metrics, s.corpus
    lines = [
        f"Demo world ready in {s.seconds:.1f} s  (workspace {s.workspace})",
        f"  corpus: {c.documents} documents, {c.words} tokens, {c.concepts} concepts",
        *(
            f"    retrieval pool, {sub}: {p['documents']} documents, {p['words']} tokens; each of"
            f" its {p['tail_rare_concepts']} tail + rare concepts >= {p['fewest_mentions']} times"
            for sub, p in c.pool.items()
        ),
        (
            f"  LM: held-out CE {lm.heldout_ce:.3f} nats vs unigram {lm.unigram_ce:.3f} "
            f"({lm.ce_ratio_to_unigram:.0%} of unigram)   {s.lm_path}"
        ),
        (
            f"  GSAE at {s.hook_name} (d_sae {g.d_sae}): L0 {m.l0:.1f} (target <="
            f" {g.l0_target_max:.0f}), explained variance {m.explained_variance:.3f}, dead"
            f" {m.dead_fraction:.1%}"
        ),
        (
            f"    CE clean {m.ce_clean:.3f}, with GSAE {m.ce_spliced:.3f}, zero-ablated"
            f" {m.ce_zero_ablation:.3f}, CE loss recovered {m.ce_loss_recovered:.3f}  "
            f" {s.gsae_path}"
        ),
        (
            "  concepts one GSAE feature detects with held-out F1 >= 0.5, token or context level"
            " (and a linear probe), by frequency in the general corpus:"
        ),
    ]
    for row in s.report.recall_by_bucket:
        lines.append(
            f"    {row['bucket']:<18} {int(row['gsae_recalled']):>3}/{int(row['concepts']):<3} SAE"
            f" ({row['gsae_recall']:.0%})  "
            f" {int(row['probe_recalled']):>3}/{int(row['concepts']):<3} probe"
            f" ({row['probe_recall']:.0%})"
        )
    lines.append(
        "  rarest-bucket tokens in the GSAE's logit-lens top tokens (tail-token coverage):"
    )
    for split, cov in s.report.rare_token_coverage.items():
        lines.append(f"    {split:<18} {cov.covered:>4}/{cov.tokens:<4} ({cov.share:.0%})")
    return "\n".join(lines)
