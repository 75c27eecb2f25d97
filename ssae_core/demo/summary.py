"""The demo world's numbers as typed results: the ``world_report`` artifact's summary
(``WorldReport``, stored as ``to_dict``) and what ``demo build`` prints (``DemoSummary``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

from ssae_core.evaluate.metrics import SAEMetrics


class LMReport(NamedTuple):
    heldout_ce: float
    """Next-token CE of the LM on general_test (nats)."""
    unigram_ce: float
    """CE of an add-one unigram model fit on the general corpus, on the same tokens."""
    ce_ratio_to_unigram: float


class GSAEReport(NamedTuple):
    metrics: SAEMetrics
    """The GSAE on general_test."""
    d_sae: int
    d_in: int
    l0_target_max: float
    """The L0 a demo GSAE should stay under (d_in / 4)."""

    def to_dict(self) -> dict:
        return {
            **asdict(self.metrics),
            "d_sae": self.d_sae,
            "d_in": self.d_in,
            "l0_target_max": self.l0_target_max,
        }


class Coverage(NamedTuple):
    """The rarest frequency bucket's distinct tokens on a split, and how many of them some
    feature that fires there has in its logit-lens top k."""

    tokens: int
    covered: int
    share: float


class CorpusStats(NamedTuple):
    documents: int
    words: int
    concepts: int
    docs_per_split: dict[str, int]
    words_per_split: dict[str, int]
    pool: dict[str, dict] = {}
    """Per subdomain, the retrieval pool's share of it (``corpus.pool_coverage``); empty for a
    world built before the pool."""


@dataclass(frozen=True)
class WorldReport:
    """The ``world_report`` artifact's summary, typed."""

    lm: LMReport
    gsae: GSAEReport
    recall_by_bucket: list[dict]
    """``concepts.recall_table``'s records: per bucket, GSAE and probe recall by kind."""
    rare_token_coverage: dict[str, Coverage]
    """Per subdomain test split."""
    eval_seconds: float

    def to_dict(self) -> dict:
        return {
            "lm": self.lm._asdict(),
            "gsae": self.gsae.to_dict(),
            "recall_by_bucket": self.recall_by_bucket,
            "rare_token_coverage": {k: c._asdict() for k, c in self.rare_token_coverage.items()},
            "eval_seconds": self.eval_seconds,
        }

    @classmethod
    def from_dict(cls, d: dict) -> WorldReport:
        g = d["gsae"]
        return cls(
            LMReport(**d["lm"]),
            GSAEReport(SAEMetrics.from_dict(g), g["d_sae"], g["d_in"], g["l0_target_max"]),
            d["recall_by_bucket"],
            {k: Coverage(**c) for k, c in d["rare_token_coverage"].items()},
            d["eval_seconds"],
        )


@dataclass(frozen=True)
class DemoSummary:
    """The numbers a researcher checks first about a demo world (``demo build`` prints them;
    ``to_dict`` is its ``--json``)."""

    workspace: str
    seconds: float
    hook_name: str
    corpus: CorpusStats
    report: WorldReport
    lm_path: str
    gsae_path: str
    step_seconds: dict[str, float]
    """Wall time of each build step on the machine that built it."""

    def to_dict(self) -> dict:
        report = self.report.to_dict()
        return {
            "workspace": self.workspace,
            "seconds": self.seconds,
            "hook_name": self.hook_name,
            "corpus": self.corpus._asdict(),
            "lm": {**report["lm"], "path": self.lm_path},
            "gsae": {**report["gsae"], "path": self.gsae_path},
            "recall_by_bucket": report["recall_by_bucket"],
            "rare_token_coverage": report["rare_token_coverage"],
            "step_seconds": self.step_seconds,
        }
