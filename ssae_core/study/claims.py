"""The papers' claims, checked on the study's cells: per claim a verdict, the numbers, their spread.

A cell is one (subdomain, seed). Each part of a claim is a yes / no per cell; a part
*holds* when it is yes in every cell, *does not hold* when in none, else it is *mixed*
(how many cells is said). Tables give mean ± standard deviation over seeds per subdomain.
Pure functions of the cells' numbers (``cell.run_cell``), so they can be checked on
hand-made numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ssae_core.evaluate.sae_set import group_name
from ssae_core.study.config import StudyConfig
from ssae_core.study.numbers import CellNumbers
from ssae_core.study.tables import (
    CELL,
    curve_ppl,
    frame,
    ordered,
    pooled_recall,
    precision_table,
    spread,
    tail_share,
    wide,
)

GSAE = "GSAE"
NEAR = 0.05  # "comparable" perplexity: within 5%
LINEAR_R2 = 0.5  # "largely linearly predictable": at least half of the variance


@dataclass
class Part:
    text: str
    flags: pd.Series  # one bool (or NaN: not measurable) per cell

    @property
    def verdict(self) -> str:
        known = self.flags.dropna().astype(bool)
        if known.empty:
            return "undetermined"
        if known.all():
            return "holds"
        return "does not hold" if not known.any() else "mixed"

    @property
    def count(self) -> str:
        known = self.flags.dropna().astype(bool)
        return f"{int(known.sum())} of {len(known)} cells"


@dataclass
class Claim:
    number: int
    statement: str
    parts: list[Part]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    note: str = ""

    @property
    def verdict(self) -> str:
        verdicts = {p.verdict for p in self.parts}
        if verdicts == {"holds"}:
            return "holds"
        if verdicts <= {"does not hold", "undetermined"} and "does not hold" in verdicts:
            return "does not hold"
        return "undetermined" if verdicts == {"undetermined"} else "partly"


ESS_TABLE = (
    "Effective sample share of the tilt weights during training (1 = every token weighs "
    "the same, as in ERM)"
)
BREADTH_TABLE = (
    "Effective share of features (exp entropy of firing counts / d_sae; SAEs at the GSAE's L0)"
)
RECALL_TABLE = (
    "Share of the subdomain's concepts with a feature of held-out F1 >= 0.5, token or context"
    " level (SAEs at the GSAE's L0)"
)
WIDTHS_TABLE = (
    "L0, FVU and nonlinear FVU (Eq. 4) across GSAE widths (each width's L1 coefficient steered"
    " to the world GSAE's L0 in training; L0 here is on the subdomain's test split)"
)


def _has(cfg: StudyConfig, *methods: str) -> bool:
    return all(m in cfg.methods for m in methods)


def claim_selection_order(
    cfg: StudyConfig, metrics: pd.DataFrame, precision: pd.DataFrame | None = None
) -> Claim:
    groups = [group_name(m) for m in ("dense", "bm25", "random")]
    ppl = curve_ppl(metrics, "ID", groups)
    parts = (
        [
            Part(
                "mean ID perplexity over the common L0 range: dense < BM25 < general baseline",
                ordered(wide(ppl, "mean_ppl"), groups),
            )
        ]
        if _has(cfg, "dense", "bm25", "random")
        else []
    )
    tables = {
        "Mean spliced perplexity over the common L0 range (ID)": spread(
            ppl, "mean_ppl", ["subdomain", "group"]
        )
    }
    if precision is not None and len(precision):
        tables[
            "Selection precision (share of the selected corpus documents that belong to the"
            " subdomain)"
        ] = spread(precision, "precision", ["subdomain", "method"])
    return Claim(
        1,
        "Dense retrieval beats BM25, which beats the general-corpus baseline, on spliced perplexity"
        " at matched L0 (in-distribution).",
        parts,
        tables,
    )


def claim_ood(cfg: StudyConfig, metrics: pd.DataFrame) -> Claim:
    groups = [group_name(m) for m in ("dense", "bm25", "seed")]
    rel = []
    for kind in ("ID", "OOD"):
        ppl = wide(curve_ppl(metrics, kind, groups), "mean_ppl")
        rel.append(
            ppl.div(ppl[groups[0]], axis=0).assign(kind=kind)
            if groups[0] in ppl
            else pd.DataFrame()
        )
    parts, tables = [], {}
    if _has(cfg, "dense", "bm25", "seed"):
        rel_id, rel_ood = rel[0], rel[1]
        for g in groups[1:]:
            parts.append(
                Part(
                    f"{g}: perplexity relative to dense is higher OOD than ID (loses ground out of"
                    " distribution)",
                    (rel_ood[g] > rel_id[g]).where(rel_ood[g].notna() & rel_id[g].notna()),
                )
            )
        long = (
            pd.concat(rel)
            .reset_index()
            .melt(
                id_vars=CELL + ["kind"],
                value_vars=groups[1:],
                var_name="group",
                value_name="ppl_vs_dense",
            )
        )
        tables["Mean perplexity relative to the dense selection's (1 = equal)"] = spread(
            long, "ppl_vs_dense", ["subdomain", "group", "kind"]
        )
    return Claim(
        2, "BM25 and seed-only selections generalize worse out of distribution.", parts, tables
    )


def claim_tracin(cfg: StudyConfig, metrics: pd.DataFrame) -> Claim:
    parts, gains = [], []
    for first in ("bm25", "dense"):
        if not _has(cfg, first, f"{first}+tracin"):
            continue
        pair = [group_name(first), group_name(f"{first}+tracin")]
        ppl = wide(curve_ppl(metrics, "ID", pair), "mean_ppl")
        gain = (
            (1 - ppl[pair[1]] / ppl[pair[0]]) if set(pair) <= set(ppl) else pd.Series(dtype=float)
        )
        gains.append(gain.rename("gain").reset_index().assign(first_stage=first))
        parts.append(
            Part(
                f"{first}+TracIn has lower mean ID perplexity than {first}",
                (gain > 0).where(gain.notna()),
            )
        )
    tables = (
        {
            "Relative perplexity gain of TracIn reranking over its first stage (ID; 0.01 = 1%)": (
                spread(pd.concat(gains), "gain", ["subdomain", "first_stage"])
            )
        }
        if gains
        else {}
    )
    return Claim(3, "TracIn reranking adds a marginal gain over its first stage.", parts, tables)


def by_measured_tilt(ess: pd.DataFrame, curves: list[str]) -> list[str]:
    """``curves`` from the mildest tilt to the strongest: by mean effective sample share over the
    cells, falling (a fixed t's strength depends on the loss scale, so it is read, not assumed)."""
    mean = ess.groupby("group").ess.mean()
    return sorted(curves, key=lambda c: -mean.get(c, np.nan))


def claim_tail(cfg: StudyConfig, coverage: pd.DataFrame, ess: pd.DataFrame) -> Claim:
    share = tail_share(coverage)
    table = wide(share, "tail_share")
    erm, term = group_name(cfg.tilt_method), cfg.term
    by_tilt = [erm] + by_measured_tilt(ess, cfg.term_curves)
    parts = [
        Part(f"{erm} covers more rare tokens than the GSAE", ordered(table, [GSAE, erm])),
        Part(f"{term} covers more than {erm}", ordered(table, [erm, term])),
        Part(
            "coverage increases with the tilt (" + " < ".join(by_tilt) + ")",
            ordered(table, by_tilt),
        ),
    ]
    return Claim(
        4,
        "SSAEs cover more tail tokens than the GSAE; TERM covers more than ERM, increasingly with"
        " tilt.",
        parts,
        {
            "Share of rare tokens covered (logit lens, SAEs at the GSAE's L0)": spread(
                share, "tail_share", ["subdomain", "group"]
            ),
            ESS_TABLE: spread(ess[ess.group.isin(by_tilt)], "ess", ["subdomain", "group"]),
        },
    )


def claim_breadth(cfg: StudyConfig, breadth: pd.DataFrame, metrics: pd.DataFrame) -> Claim:
    erm, term = group_name(cfg.tilt_method), cfg.term
    table = wide(breadth, "effective_share")
    ppl = wide(curve_ppl(metrics, "ID", [erm, term], middle=True), "mean_ppl")
    ratio = (
        (ppl[term] / ppl[erm]) if {erm, term} <= set(ppl) else pd.Series(np.nan, index=table.index)
    )
    parts = [
        Part(
            f"{term} spreads activations over more features than {erm} (effective share of"
            " features)",
            ordered(table, [erm, term]),
        ),
        Part(
            f"{term} perplexity within {NEAR:.0%} of {erm} in the middle of their common L0 range",
            ((ratio - 1).abs() <= NEAR).where(ratio.notna()),
        ),
    ]
    ratios = ratio.rename("ppl_term_over_erm").reset_index()
    return Claim(
        5,
        "TERM yields more broadly activating features (count vs rank) with comparable perplexity in"
        " a middle L0 range.",
        parts,
        {
            BREADTH_TABLE: spread(breadth, "effective_share", ["subdomain", "group"]),
            "Live share of features": spread(breadth, "live_share", ["subdomain", "group"]),
            "TERM / ERM mean perplexity, middle half of the common L0 range (ID)": spread(
                ratios, "ppl_term_over_erm", ["subdomain"]
            ),
        },
    )


def claim_recall(cfg: StudyConfig, recall: pd.DataFrame) -> Claim:
    erm, term = group_name(cfg.tilt_method), cfg.term
    groups = [GSAE, erm, *cfg.term_curves]
    recall = recall[recall.kind == "either"].drop(columns="kind")  # the better of the two kinds
    pooled = pooled_recall(recall, groups)
    table = wide(pooled, "recall")
    by_bucket = recall.melt(
        id_vars=CELL + ["bucket", "concepts"],
        value_vars=[g for g in groups if g in recall],
        var_name="group",
        value_name="recall",
    )
    return Claim(
        6,
        "Ground-truth tail-concept recall: GSAE < SSAE (ERM) < SSAE (TERM)?",
        [
            Part(
                f"{erm} recalls more of the subdomain's concepts than the GSAE",
                ordered(table, [GSAE, erm]),
            ),
            Part(f"{term} recalls more than {erm}", ordered(table, [erm, term])),
        ],
        {
            RECALL_TABLE: spread(pooled, "recall", ["subdomain", "group"]),
            "The same by concept-frequency bucket (frequency in the general corpus)": spread(
                by_bucket, "recall", ["subdomain", "bucket", "group"]
            ),
        },
    )


def claim_autointerp(cfg: StudyConfig, scores: pd.DataFrame, backend: str) -> Claim:
    erm, term = group_name(cfg.tilt_method), cfg.term
    f1 = scores.dropna(subset=["f1"]).groupby(CELL + ["group"], as_index=False).f1.mean()
    return Claim(
        7,
        "TERM features score higher F1 in autointerp.",
        [Part(f"mean F1 of {term} > {erm}", ordered(wide(f1, "f1"), [erm, term]))],
        {f"Mean autointerp F1 per SAE ({backend})": spread(f1, "f1", ["subdomain", "group"])},
    )


def claim_dark_matter(cfg: StudyConfig, r2: pd.DataFrame) -> Claim:
    baselines = ["r2_norm_from_token_identity", "r2_norm_from_activation_norm", "r2_norm_from_l0"]
    focus = r2[~r2.sae.str.startswith(f"{GSAE} d_sae=")].rename(columns={"sae": "group"})
    best_baseline = focus[baselines].max(axis=1)
    linear = (
        (
            (focus.r2_norm_from_activation >= LINEAR_R2)
            & (focus.r2_norm_from_activation > best_baseline)
        )
        .groupby([focus.subdomain, focus.seed])
        .all()
    )
    widths = (
        r2[r2.sae.str.startswith(GSAE)].drop_duplicates(CELL + ["d_sae"]).sort_values("d_sae")
    )  # the world's GSAE is also a focus SAE

    def relative_range(v: pd.Series) -> float:
        return float((v.max() - v.min()) / v.mean())

    per_cell = widths.groupby(CELL).agg(
        nonlinear=("nonlinear_fvu", relative_range),
        total=("fvu", relative_range),
        n=("d_sae", "size"),
    )
    flat = (per_cell.nonlinear < 0.5 * per_cell.total).where(per_cell.n > 1)
    return Claim(
        8,
        "SAE error norm is largely linearly predictable from x; nonlinear FVU stays roughly flat"
        " across widths.",
        [
            Part(
                f"R² of ||e||² from x >= {LINEAR_R2} and above the token-identity, norm and L0"
                " baselines, for every SAE compared",
                linear,
            ),
            Part(
                "across GSAE widths, the relative range of nonlinear FVU is under half that of FVU",
                flat,
            ),
        ],
        {
            "Held-out R² of ||e||² (Eq. 2) from x and baselines": spread(
                focus.melt(
                    id_vars=CELL + ["group"],
                    value_vars=["r2_norm_from_activation"] + baselines,
                    var_name="predictor",
                    value_name="r2",
                ),
                "r2",
                ["subdomain", "group", "predictor"],
            ),
            WIDTHS_TABLE: spread(
                widths.melt(
                    id_vars=CELL + ["d_sae"],
                    value_vars=["l0", "fvu", "nonlinear_fvu", "r2_error_vector"],
                    var_name="measure",
                    value_name="value",
                ),
                "value",
                ["subdomain", "d_sae", "measure"],
            ),
        },
    )


def check_claims(cfg: StudyConfig, cells: list[CellNumbers], backend: str) -> list[Claim]:
    """Every claim, in the issue's order, from the cells' numbers."""
    metrics = frame(cells, lambda c: c.metrics)
    return [
        claim_selection_order(cfg, metrics, precision_table(cells)),
        claim_ood(cfg, metrics),
        claim_tracin(cfg, metrics),
        claim_tail(
            cfg, frame(cells, lambda c: c.tail_coverage), frame(cells, lambda c: c.tilt_ess)
        ),
        claim_breadth(cfg, frame(cells, lambda c: c.breadth), metrics),
        claim_recall(cfg, frame(cells, lambda c: c.concept_recall)),
        claim_autointerp(cfg, frame(cells, lambda c: c.autointerp), backend),
        claim_dark_matter(cfg, frame(cells, lambda c: c.dark_matter)),
    ]
