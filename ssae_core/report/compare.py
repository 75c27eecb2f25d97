"""Tables that compare evaluated SAEs: metrics, Pareto AUCs, matched-L0 picks, tail tokens,
activation counts.

Input: the ``sae_eval`` artifacts of ``evaluate.evaluate`` (per split, per SAE ref) and
the ``NamedSAE`` list that names them. Output: plain DataFrames for ``plots`` and reports.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ssae_core.analysis import specialization as changes
from ssae_core.evaluate import features, tail
from ssae_core.evaluate.concepts import BUCKETS, PROBE, recall_by_bucket, sae_concept_f1
from ssae_core.evaluate.evaluation import load_features, split_docs
from ssae_core.evaluate.metrics import METRICS, curve_auc, l0_range
from ssae_core.evaluate.sae_set import NamedSAE
from ssae_core.infra.progress import Silent
from ssae_core.infra.workspace import Artifact

if TYPE_CHECKING:
    from ssae_core.models.base import Base


def metrics_table(evals: dict[str, dict[str, Artifact]], saes: list[NamedSAE]) -> pd.DataFrame:
    """One row per (split, SAE): group, label, ref and the metrics; ``ppl_vs_gsae`` = ppl / the
    GSAE's on that split."""
    rows = [
        {
            "split": split,
            "group": s.group or s.label,
            "label": s.label,
            "ref": s.ref,
            **{k: arts[s.ref].summary[k] for k in METRICS},
        }
        for split, arts in evals.items()
        for s in saes
    ]
    table = pd.DataFrame(rows)
    gsae = table[table.group == "GSAE"].set_index("split").ppl_spliced
    table["ppl_vs_gsae"] = table.ppl_spliced / table.split.map(gsae) if len(gsae) else np.nan
    return table


def auc_table(
    metrics: pd.DataFrame, l0_lo: float | None = None, l0_hi: float | None = None
) -> pd.DataFrame:
    """Per split and curve (sweeps with 2+ SAEs): area under perplexity vs L0 over a common L0
    range.

    The range defaults to the overlap of the curves' L0 spans on that split (paper: 60-140).
    """
    rows = []
    for split, part in metrics.groupby("split", sort=False):
        curves = {g: c for g, c in part.groupby("group", sort=False) if len(c) > 1}
        if not curves:
            continue
        lo, hi = l0_range(curves)
        lo, hi = (l0_lo if l0_lo is not None else lo), (l0_hi if l0_hi is not None else hi)
        for group, curve in curves.items():
            rows.append(
                {
                    "split": split,
                    "group": group,
                    "l0_lo": lo,
                    "l0_hi": hi,
                    "auc": curve_auc(curve, lo, hi),
                    "mean_ppl": curve_auc(curve, lo, hi) / (hi - lo) if hi > lo else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["split", "group", "l0_lo", "l0_hi", "auc", "mean_ppl"])


def matched_l0(metrics: pd.DataFrame, split: str, target: float | None = None) -> pd.DataFrame:
    """Per group, the SAE whose L0 on ``split`` is closest to ``target`` (default: the
    GSAE's L0)."""
    part = metrics[metrics.split == split]
    if target is None:
        gsae = part[part.group == "GSAE"]
        target = float(gsae.l0.iloc[0]) if len(gsae) else float(part.l0.median())
    pick = (
        part.assign(gap=(part.l0 - target).abs())
        .sort_values("gap")
        .groupby("group", sort=False)
        .head(1)
    )
    return pick.drop(columns="gap")


def tail_tables(
    arts: dict[str, Artifact], chosen: pd.DataFrame, n_buckets: int = 8
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(coverage per frequency bucket, cumulative coverage) of the chosen SAEs on one split (Fig.
    2a, 2b).

    A token is covered when it is in the logit-lens top-k of a feature that fires on the split.
    """
    first = arts[chosen.ref.iloc[0]]
    freq = tail.frequency_buckets(np.concatenate(split_docs(first)), n_buckets)
    bars, curves = [], []
    for row in chosen.itertuples():
        feats = load_features(arts[row.ref])
        covered = tail.covered_tokens(
            np.stack(feats.lens_top.to_numpy()), (feats["count"] > 0).to_numpy()
        )
        bars.append(tail.coverage_by_bucket(freq, covered).assign(sae=row.group))
        curves.append(tail.cumulative_coverage(freq, covered).assign(sae=row.group))
    return pd.concat(bars, ignore_index=True), pd.concat(curves, ignore_index=True)


def activation_tables(
    arts: dict[str, Artifact], chosen: pd.DataFrame, baseline: str = "GSAE"
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """(count vs rank long table, per-feature count differences vs ``baseline``) for the chosen SAEs
    (Fig. 3a, 7)."""
    counts = {
        row.group: load_features(arts[row.ref])["count"].to_numpy() for row in chosen.itertuples()
    }
    ranks = features.count_rank(counts)
    diffs = {
        g: features.count_differences(c, counts[baseline])
        for g, c in counts.items()
        if g != baseline and baseline in counts
    }
    return ranks, diffs


def concept_scores(
    base: Base, saes: list[NamedSAE], domain: str | None = None, progress=None
) -> pd.DataFrame:
    """A base with ground truth (``base.data``): each SAE's (by group) best single-feature
    detector per concept of ``domain`` (default all), with its held-out F1
    (``concepts.sae_concept_f1``'s long table)."""
    named = {s.group or s.label: s.sae for s in saes}
    long = sae_concept_f1(base.model, base.hook_name, base.data, named, progress or Silent())
    return long if domain is None else long[long.domain == domain]


def concept_recall(long: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """Per ground-truth kind and concept-frequency bucket, the share of concepts some feature of
    each SAE detects with held-out F1 >= ``threshold`` (``concept_scores``' table), and the linear
    probe's share (the ceiling).

    Columns: kind (``token``, ``context``, or ``either``: the better of the two per concept),
    bucket, concepts, one recall column per SAE group, ``linear probe``.
    """
    either = long.groupby(["sae", "concept_id", "bucket"], as_index=False).best_f1.max()
    long = pd.concat([long, either.assign(kind="either")], ignore_index=True)
    tables = []
    for (kind, name), part in long.groupby(["kind", "sae"], sort=False):
        r = recall_by_bucket(part, "best_f1", threshold)[["bucket", "concepts", "recall"]]
        tables.append(r.rename(columns={"recall": name}).assign(kind=kind))
    table = pd.concat(tables).groupby(["kind", "bucket", "concepts"], as_index=False).first()
    order = {b: i for i, b in enumerate(BUCKETS)}
    table = table.sort_values(
        ["kind", "bucket"], key=lambda c: c.map(order) if c.name == "bucket" else c
    )
    names = list(dict.fromkeys(long.sae))
    return table[["kind", "bucket", "concepts", *names]].reset_index(drop=True)


def specialization(
    saes: list[NamedSAE],
    arts: dict[str, Artifact],
    chosen: pd.DataFrame,
    cfg: changes.ChangeConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What specialization changed in each chosen SSAE against the GSAE (``specialization``):
    (one summary row per SSAE group, one row per latent with its group). Counts are on the split
    of ``arts``."""
    by_ref = {s.ref: s.sae for s in saes}
    gsae, ssaes = chosen[chosen.group == "GSAE"], chosen[chosen.group != "GSAE"]
    if gsae.empty or ssaes.empty:
        return pd.DataFrame(), pd.DataFrame()
    g_ref = gsae.ref.iloc[0]
    g_counts = load_features(arts[g_ref])["count"].to_numpy()
    summaries, tables = [], []
    for row in ssaes.itertuples():
        counts = (g_counts, load_features(arts[row.ref])["count"].to_numpy())
        table = changes.latent_changes(by_ref[g_ref].W_dec, by_ref[row.ref].W_dec, cfg, counts)
        tables.append(table.assign(group=row.group, label=row.label))
        summary = changes.summarize(table, cfg)
        summaries.append({"group": row.group, "label": row.label, **asdict(summary)})
    return pd.DataFrame(summaries), pd.concat(tables, ignore_index=True)


def novel_concepts(
    scores: pd.DataFrame, latents: pd.DataFrame, concepts: pd.DataFrame, threshold: float = 0.5
) -> pd.DataFrame:
    """A base with ground truth: the concepts an SSAE's *novel* latents detect (held-out F1 >=
    ``threshold``, the better ground-truth kind), with the GSAE's best F1 on the same concept.

    ``scores``: ``concept_scores``' table; ``latents``: ``specialization``'s per-latent table.
    Columns: sae, concept, bucket, truth (token or context), feature, f1, max_cos, gsae_f1."""
    best = scores.sort_values("best_f1", ascending=False).drop_duplicates(["sae", "concept_id"])
    gsae_f1 = best[best.sae == "GSAE"].set_index("concept_id").best_f1
    novel = latents[latents.kind == "novel"].set_index(["group", "feature"]).max_cos
    hits = best[best.best_f1 >= threshold]
    hits = hits.join(novel, on=["sae", "best_feature"], how="inner")
    hits = hits.merge(concepts[["concept_id", "key"]], on="concept_id")
    return pd.DataFrame(
        {
            "sae": hits.sae,
            "concept": hits.key,
            "bucket": hits.bucket,
            "truth": hits.kind,
            "feature": hits.best_feature,
            "f1": hits.best_f1,
            "max_cos": hits.max_cos,
            "gsae_f1": hits.concept_id.map(gsae_f1),
        }
    ).reset_index(drop=True)


def gained_concepts(
    scores: pd.DataFrame,
    concepts: pd.DataFrame,
    latents: pd.DataFrame | None = None,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """A base with ground truth: per SSAE, the concepts the GSAE misses (its best held-out F1 <
    ``threshold``) that some SSAE latent detects (F1 >= ``threshold``), the better ground-truth
    kind, rarest bucket first.

    ``scores``: ``concept_scores``' table; ``latents``: ``specialization``'s per-latent table
    (adds whether the detecting latent is novel). Columns: sae, concept, bucket, truth, feature,
    f1, gsae_f1, novel_latent."""
    best = scores.sort_values("best_f1", ascending=False).drop_duplicates(["sae", "concept_id"])
    gsae_f1 = best[best.sae == "GSAE"].set_index("concept_id").best_f1
    ssae = best[(best.sae != "GSAE") & (best.sae != PROBE)]
    hits = ssae[(ssae.best_f1 >= threshold) & (ssae.concept_id.map(gsae_f1) < threshold)]
    hits = hits.merge(concepts[["concept_id", "key"]], on="concept_id")
    novel = pd.Series(False, index=hits.index)
    if latents is not None and not latents.empty:
        kinds = latents.set_index(["group", "feature"]).kind
        pairs = pd.MultiIndex.from_arrays([hits.sae, hits.best_feature])
        novel = pd.Series(kinds.reindex(pairs).eq("novel").to_numpy(), index=hits.index)
    order = {b: i for i, b in enumerate(BUCKETS)}
    table = pd.DataFrame(
        {
            "sae": hits.sae,
            "concept": hits.key,
            "bucket": hits.bucket,
            "truth": hits.kind,
            "feature": hits.best_feature.astype(int),
            "f1": hits.best_f1,
            "gsae_f1": hits.concept_id.map(gsae_f1),
            "novel_latent": novel,
        }
    )
    table["_rank"] = table.bucket.map(order)
    table = table.sort_values(["sae", "_rank", "f1"], ascending=[True, False, False])
    return table.drop(columns="_rank").reset_index(drop=True)


HEAD_MID, TAIL_RARE = BUCKETS[:2], BUCKETS[-2:]


def specialization_forgetting(
    scores: pd.DataFrame,
    concepts: pd.DataFrame,
    subdomain: str,
    metrics: pd.DataFrame | None = None,
    matched: pd.DataFrame | None = None,
    general_split: str | None = None,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """A base with ground truth: per SAE of ``scores`` (``concept_scores``' table over every
    domain), what it gained and what it kept.

    Gained: ``tail_rare``, the share of ``subdomain``'s tail and rare concepts some latent detects
    (held-out F1 >= ``threshold``, the better truth kind), and ``of_probe``, that count over the
    linear probe's. Kept: ``head_mid``, the same share over the head and mid concepts of the other
    (general) domains. With ``general_split`` evaluated (``metrics``; SAEs picked by ``matched``):
    ``general_l0``, ``general_l0_vs_gsae`` and ``general_ce_rec`` on it."""
    best = scores.groupby(["sae", "concept_id"]).best_f1.max().unstack("concept_id")
    found = best >= threshold
    general = set(concepts.domain[~concepts.subdomain])
    gained = concepts.concept_id[(concepts.domain == subdomain) & concepts.bucket.isin(TAIL_RARE)]
    kept = concepts.concept_id[concepts.domain.isin(general) & concepts.bucket.isin(HEAD_MID)]
    gained, kept = [c for c in gained if c in found], [c for c in kept if c in found]
    probe = int(found.loc[PROBE, gained].sum()) if PROBE in found.index else 0
    names = [n for n in dict.fromkeys(scores.sae) if n != PROBE]
    table = pd.DataFrame(
        {
            "sae": names,
            "tail_rare": [found.loc[n, gained].mean() for n in names],
            "of_probe": [found.loc[n, gained].sum() / max(probe, 1) for n in names],
            "head_mid": [found.loc[n, kept].mean() for n in names],
        }
    )
    if metrics is not None and general_split is not None and matched is not None:
        refs = dict(zip(matched.group, matched.ref))
        rows = metrics[metrics.split == general_split].set_index("ref")
        picked = rows.reindex(table.sae.map(refs))
        table["general_l0"] = picked.l0.to_numpy()
        gsae = table.general_l0[table.sae == "GSAE"]
        table["general_l0_vs_gsae"] = table.general_l0 / (gsae.iloc[0] if len(gsae) else np.nan)
        table["general_ce_rec"] = picked.ce_loss_recovered.to_numpy()
    return table


ERROR_QUANTILES = (0.5, 0.9, 0.99, 0.999)
"""Quantiles of the per-token squared error the error-tail table shows (TERM aims at the top)."""


def error_tail(
    norms: pd.DataFrame, quantiles: tuple[float, ...] = ERROR_QUANTILES, points: int = 40
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, curve) of the per-token squared error ``||x - x_hat||²`` per SAE, from
    ``dark_matter.error_norms`` rows (sae, error_norm).

    Table: tokens, mean, the ``quantiles`` (columns ``p50``, ``p90``, ...) and the mean of the
    worst 1% of tokens (at least one). Curve: the squared error at quantiles 1 - s for tail
    shares s log-spaced from 0.5 to 0.001: where ERM and TERM should differ.
    """
    shares = np.geomspace(0.5, 1e-3, points)
    rows, curves = [], []
    for sae, part in norms.groupby("sae", sort=False):
        sq = np.sort(part.error_norm.to_numpy(dtype=np.float64) ** 2)
        worst = sq[-max(1, int(np.ceil(len(sq) / 100))) :]
        row = {"sae": sae, "tokens": len(sq), "mean": sq.mean()}
        row.update({f"p{100 * q:g}": np.quantile(sq, q) for q in quantiles})
        rows.append({**row, "worst_1pct_mean": worst.mean()})
        curve = pd.DataFrame({"tail_share": shares, "squared_error": np.quantile(sq, 1 - shares)})
        curves.append(curve.assign(sae=sae))
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True)
