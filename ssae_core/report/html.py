"""The comparison report: every evaluation figure for a set of SAEs, as one self-contained HTML
file.

``compare_saes`` evaluates (or reuses) the SAEs on each split and returns the tables and
figures; ``to_html`` embeds plotly.js once, inline, so the file opens offline.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from ssae_core.analysis import dark_matter
from ssae_core.analysis.specialization import ChangeConfig
from ssae_core.evaluate.evaluation import (
    EvalConfig,
    TokenSplit,
    evaluate,
    load_features,
    split_docs,
)
from ssae_core.evaluate.sae_set import NamedSAE
from ssae_core.infra.progress import Progress, Silent
from ssae_core.report import compare, plots

if TYPE_CHECKING:
    from ssae_core.models.base import Base


REPORT_COLUMNS = [
    "split",
    "label",
    "l0",
    "fvu",
    "dead_fraction",
    "dense_fraction",
    "ce_loss_recovered",
    "ppl_spliced",
    "ppl_vs_gsae",
    "kl_div_score",
    "cossim",
    "l2_ratio",
    "relative_reconstruction_bias",
    "active_latents",
    "n_tokens",
]


@dataclass
class Comparison:
    """Tables (JSON-able through ``numbers``) and figures of one comparison."""

    metrics: pd.DataFrame
    auc: pd.DataFrame
    matched: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, go.Figure] = field(default_factory=dict)
    latents: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per latent of each matched SSAE against the GSAE (``compare.specialization``); not part of
    ``numbers`` (one row per latent)."""

    def numbers(self) -> dict:
        out = {
            "metrics": self.metrics.to_dict("records"),
            "auc": self.auc.to_dict("records"),
            "matched_l0": self.matched.to_dict("records"),
        }
        out.update({k: v.to_dict("records") for k, v in self.tables.items()})
        return out


def compare_saes(
    ws,
    base: Base,
    saes: list[NamedSAE],
    splits: list[TokenSplit],
    l0_lo: float | None = None,
    l0_hi: float | None = None,
    cfg: EvalConfig = EvalConfig(),
    progress: Progress | None = None,
    domain: str | None = None,
    changes: ChangeConfig = ChangeConfig(),
) -> Comparison:
    """Evaluate ``saes`` on ``splits`` (the first is the in-domain one) and build every
    comparison figure.

    Each matched SSAE against the GSAE, latent by latent (``specialization``: novel and
    reconstruction latents at ``changes.theta``). Demo world: concept recall of the matched-L0
    SAEs, on ``domain``'s concepts when given, the concepts novel latents detect, and
    specialization against forgetting for ``domain`` (default: the subdomain whose test or OOD
    split is ``splits[0]``)."""
    progress = progress or Silent()
    evals = {split.name: evaluate(ws, base, saes, split, cfg, progress) for split in splits}
    metrics = compare.metrics_table(evals, saes)
    home = splits[0].name
    result = Comparison(
        metrics, compare.auc_table(metrics, l0_lo, l0_hi), compare.matched_l0(metrics, home)
    )
    colors = plots.palette(metrics.group)
    for split in splits:
        points = metrics[metrics.split == split.name]
        result.figures[f"pareto_{split.name}"] = plots.pareto(points, split.name, colors)
    bars, curves = compare.tail_tables(evals[home], result.matched)
    result.tables["tail_coverage"] = bars
    result.figures["tail_coverage"] = plots.tail_coverage(bars, colors)
    result.figures["tail_cumulative"] = plots.cumulative_coverage(curves, colors)
    ranks, diffs = compare.activation_tables(evals[home], result.matched)
    result.figures["count_rank"] = plots.count_rank(ranks, colors)
    if diffs:
        result.figures["count_differences"] = plots.count_differences(diffs, "GSAE", colors)
    _add_errors(result, base, saes, splits[0], colors, progress)
    summary, result.latents = compare.specialization(saes, evals[home], result.matched, changes)
    if not summary.empty:
        result.tables["specialization"] = summary
        result.figures["max_cos"] = plots.max_cos(result.latents, changes.theta, colors)
    if base.data is not None:
        chosen = {r.ref for r in result.matched.itertuples()}
        every = compare.concept_scores(base, [s for s in saes if s.ref in chosen], None, progress)
        scores = every if domain is None else every[every.domain == domain]
        sub = domain or _subdomain_of(base.data.subdomains, home)
        if sub is not None:
            general = next((s.name for s in splits if s.name == GENERAL_SPLIT), None)
            table = compare.specialization_forgetting(
                every, base.data.concepts, sub, metrics, result.matched, general
            )
            result.tables["specialization_forgetting"] = table
            result.figures["specialization_forgetting"] = plots.specialization_forgetting(
                table, colors
            )
        if not summary.empty:
            result.tables["novel_concepts"] = compare.novel_concepts(
                scores, result.latents, base.data.concepts
            )
        gained = compare.gained_concepts(scores, base.data.concepts, result.latents)
        result.tables["gained_concepts"] = _with_examples(
            gained, base, saes, evals[home], result.matched
        )
        recall = compare.concept_recall(scores)
        result.tables["concept_recall"] = recall
        result.figures["concept_recall"] = plots.concept_recall_bars(
            recall,
            {c: c for c in recall.columns if c not in ("kind", "bucket", "concepts")},
            colors,
        )
    return result


def _subdomain_of(subdomains, split: str) -> str | None:
    """The subdomain whose test or OOD split ``split`` is, if any."""
    return next((d for d in subdomains if split in (f"{d}_test", f"{d}_ood")), None)


GAINED_TITLE = "Concepts the GSAE misses that the SSAE finds"
FORGETTING_TITLE = "Specialization against forgetting"
GENERAL_SPLIT = "general_test"
"""The demo world's general test split: forgetting (L0, CE loss recovered) is read on it when the
comparison evaluates it."""
GAINED_EXAMPLES = 40
"""Rows of the gained-concepts table that get an example context (one LM pass over their top
documents)."""


def _with_examples(
    gained: pd.DataFrame, base: Base, saes: list[NamedSAE], arts: dict, matched: pd.DataFrame
) -> pd.DataFrame:
    """``gained`` with ``example``: for its first rows, the detecting latent's top activating
    context on the in-domain split (``arts``: its evaluations), active tokens in << >>."""
    from ssae_core.analysis.autointerp.examples import marked, top_windows_of

    refs, by_ref = dict(zip(matched.group, matched.ref)), {s.ref: s.sae for s in saes}
    examples = pd.Series("", index=gained.index)
    for group, part in gained.head(GAINED_EXAMPLES).groupby("sae", sort=False):
        art = arts[refs[group]]
        features = part.feature.tolist()
        docs, table = split_docs(art), load_features(art)
        windows = top_windows_of(base, by_ref[refs[group]], docs, table, features, n=1)
        examples[part.index] = [marked(w[0]) if w else "" for w in windows]
    return gained.assign(example=examples)


COMPARISON_FIGURES = (
    "tail_coverage",
    "tail_cumulative",
    "count_rank",
    "count_differences",
    "error_tail",
    "error_by_frequency",
    "error_by_concept",
    "concept_recall",
)
"""The comparison's figures after its ``pareto_<split>`` ones, in the order the Compare page and
the report show them (``max_cos`` goes with the specialization table)."""

ERROR_TOKENS = 20_000
"""Tokens (the in-domain split's first documents) the per-token error distribution is taken on."""


def _add_errors(
    result: Comparison, base, saes, split: TokenSplit, colors: dict, progress: Progress
) -> None:
    """Where the matched-L0 SAEs (one per sweep) err on the in-domain split, where ERM and TERM
    should differ: the upper tail of the per-token squared error (``compare.error_tail``), error
    by token frequency and (demo world) by ground-truth concept-frequency bucket."""
    progress.stage(f"per-token errors on {split.name}", None)
    by_ref = {s.ref: s.sae for s in saes}
    acts = dark_matter.first_tokens(base, split.docs, ERROR_TOKENS)
    chosen = {row.group: by_ref[row.ref] for row in result.matched.itertuples()}
    norms = dark_matter.error_norms(chosen, acts.x)
    table, curve = compare.error_tail(norms)
    by_freq = dark_matter.error_by_frequency(norms, acts.token_ids)
    result.tables.update(error_tail=table, error_by_frequency=by_freq)
    result.figures["error_tail"] = plots.error_tail(curve, colors)
    result.figures["error_by_frequency"] = plots.error_by_frequency(by_freq, colors)
    data = base.data
    if data is not None and split.ref == data.split_ref(split.name):
        labels = dark_matter.first_labels(data.split_labels(split.name), acts, base.model.cfg.n_ctx)
        by_concept = dark_matter.error_by_concept_bucket(norms, labels, data.concepts)
        result.tables["error_by_concept"] = by_concept
        result.figures["error_by_concept"] = plots.error_by_concept(by_concept, colors)


def to_html(result: Comparison, title: str = "SSAE Studio: SAE comparison") -> str:
    """One self-contained HTML page: metrics, AUC and matched-L0 tables, then every figure."""
    tables = {
        "Metrics": result.metrics[REPORT_COLUMNS],
        "Area under perplexity vs L0 (lower is better)": result.auc,
        "SAEs compared at matched L0": result.matched[
            ["split", "group", "label", "l0", "ppl_spliced"]
        ],
    }
    titles = {
        "error_tail": "Per-token squared error, matched-L0 SAEs, in-domain split",
        "error_by_frequency": "The same by token frequency in the split (bucket 0 = rarest)",
        "error_by_concept": "The same by ground-truth concept-frequency bucket",
        "specialization": "What specialization changed: novel and reconstruction latents",
        "novel_concepts": "Ground-truth concepts the SSAEs' novel latents detect",
    }
    if "gained_concepts" in result.tables:  # first: what the SSAEs found that the GSAE misses
        first = {GAINED_TITLE: result.tables["gained_concepts"]}
        if "specialization_forgetting" in result.tables:
            first[FORGETTING_TITLE] = result.tables["specialization_forgetting"]
        tables = {**first, **tables}
    tables.update({t: result.tables[k] for k, t in titles.items() if k in result.tables})
    return page(title, tables, result.figures)


def page(title: str, tables: dict[str, pd.DataFrame], figures: dict[str, go.Figure]) -> str:
    """A self-contained HTML page of titled tables then figures (plotly.js embedded once: works
    offline)."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for heading, df in tables.items():
        parts += [
            f"<h2>{html.escape(heading)}</h2>",
            df.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0),
        ]
    for i, (name, fig) in enumerate(figures.items()):
        parts.append(
            fig.to_html(
                full_html=False, include_plotlyjs="inline" if i == 0 else False, div_id=name
            )
        )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#212529}"
        " table{border-collapse:collapse;font-size:13px} td,th{padding:3px 8px;border-bottom:1px"
        " solid #dee2e6;text-align:right}"
    )
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{''.join(parts)}</body></html>"
