"""The study's long tables: one cell table over every cell (``frame``), ID / OOD kinds, mean
perplexity over a common L0 range, wide and spread (mean ± std over seeds) views, the orders
and shares the claims test."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ssae_core.report.compare import auc_table
from ssae_core.study.numbers import CellNumbers

CELL = ["subdomain", "seed"]
"""The columns that name a cell."""


def frame(cells: list[CellNumbers], rows: Callable[[CellNumbers], list[dict]]) -> pd.DataFrame:
    """One long table of a cell table (``rows``: e.g. ``lambda c: c.metrics``) over every cell,
    with subdomain and seed columns."""
    return pd.concat(
        [pd.DataFrame(rows(c)).assign(subdomain=c.subdomain, seed=c.seed) for c in cells],
        ignore_index=True,
    )


def split_kind(metrics: pd.DataFrame) -> pd.DataFrame:
    """Adds ``kind``: ID for a subdomain's in-domain test split, OOD for its other-style split."""
    return metrics.assign(kind=np.where(metrics.split.str.endswith("_ood"), "OOD", "ID"))


def curve_ppl(
    metrics: pd.DataFrame, kind: str, groups: list[str], middle: bool = False
) -> pd.DataFrame:
    """Per cell and curve: mean perplexity over the L0 range all ``groups``' curves span (area /
    width), or over the middle half of that range. Columns: subdomain, seed, group, mean_ppl, l0_lo,
    l0_hi.
    """
    rows = []
    for (sub, seed), part in split_kind(metrics).query("kind == @kind").groupby(CELL, sort=False):
        part = part[part.group.isin(groups)]
        lo = hi = None
        if middle:
            lo, hi = auc_table(part)[["l0_lo", "l0_hi"]].iloc[0] if len(part) else (np.nan, np.nan)
            lo, hi = lo + (hi - lo) / 4, hi - (hi - lo) / 4
        rows.append(auc_table(part, lo, hi).assign(subdomain=sub, seed=seed))
    table = (
        pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["group", "mean_ppl"])
    )
    return table[CELL + ["group", "mean_ppl", "l0_lo", "l0_hi"]]


def wide(long: pd.DataFrame, value: str, column: str = "group") -> pd.DataFrame:
    """Cells as rows, one column per ``column`` value."""
    return long.set_index(CELL + [column])[value].unstack(
        column
    )  # unlike pivot_table, keeps all-NaN cells


def spread(long: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """Mean and standard deviation over seeds (and n) of ``value`` per ``by``."""
    stats = long.groupby(by, sort=False)[value].agg(["mean", "std", "count"]).reset_index()
    return stats.rename(columns={"count": "seeds"})


def ordered(table: pd.DataFrame, columns: list[str], increasing: bool = True) -> pd.Series:
    """Per row: the values of ``columns`` strictly increase (or decrease) left to right; NaN if any
    is missing."""
    values = table.reindex(columns=columns).to_numpy(dtype=float)
    steps = np.diff(values, axis=1)
    ok = (steps > 0) if increasing else (steps < 0)
    out = pd.Series(ok.all(axis=1), index=table.index, dtype=object)
    out[np.isnan(values).any(axis=1)] = np.nan
    return out


def precision_table(cells: list[CellNumbers]) -> pd.DataFrame:
    """Per cell and method: the share of selected general-corpus documents that are in the
    subdomain."""
    return pd.DataFrame(
        [
            {"subdomain": c.subdomain, "seed": c.seed, "method": m, "precision": p}
            for c in cells
            for m, p in c.precision.items()
            if p is not None
        ],
        columns=CELL + ["method", "precision"],
    )


def tail_share(coverage: pd.DataFrame) -> pd.DataFrame:
    """Per cell and SAE: share of the split's distinct rare tokens (the rarer half of the frequency
    buckets) in the logit-lens top tokens of a live feature."""
    rare = coverage[coverage.bucket <= coverage.groupby(CELL).bucket.transform("max") // 2]
    out = rare.groupby(CELL + ["sae"], as_index=False)[["covered", "tokens"]].sum()
    return out.assign(tail_share=out.covered / out.tokens).rename(columns={"sae": "group"})


def pooled_recall(recall: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Per cell and SAE: share of the subdomain's concepts recalled, pooled over frequency
    buckets."""
    rows = []
    for key, part in recall.groupby(CELL, sort=False):
        part = part[part.concepts > 0]
        for g in groups:
            if g in part:
                rows.append(
                    {
                        "subdomain": key[0],
                        "seed": key[1],
                        "group": g,
                        "recall": float((part[g] * part.concepts).sum() / part.concepts.sum()),
                    }
                )
    return pd.DataFrame(rows, columns=CELL + ["group", "recall"])
