"""More scores of an explanation, after EleutherAI delphi's (``delphi/scorers/``): detection,
fuzzing and an offline embedding score, each on its own sample of contexts.

The sample (``ScoringSet``, ``scoring_sets``): ``n`` activating windows, one drawn from each of
``n`` equal slices of the feature's top documents after the 10 it was explained on (delphi draws
per activation quantile), and ``n`` windows where it is silent. Each scorer answers per context:

- **detection**: from the explanation alone, does the feature fire somewhere in this unmarked
  context? (the predictor's question, on the larger, quantile-spread sample);
- **fuzzing**: in this context with some tokens marked << >>, are the marked tokens the ones the
  feature fires on? Correct contexts mark the activating windows' tokens at >= 0.3 of that
  window's peak (delphi's threshold); wrong ones mark as many random tokens (the mean count,
  rounded up) in the silent windows;
- **embedding** (no LLM): cosine between the explanation's and each context's MiniLM embeddings
  (the encoder dense retrieval ships with).

Detection and fuzzing report **balanced accuracy**, (TPR + TNR) / 2, as delphi's result analysis
does; embedding reports the **AUROC** of the cosine for activating vs silent contexts (0.5 =
chance). Each score is stored per (SAE, feature, scorer version, backend, explanation, sample) under
``<workspace>/autointerp/scores/``, so a rerun asks nothing again.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ssae_core.analysis.autointerp import prompts
from ssae_core.analysis.autointerp.backends import OfflineBackend
from ssae_core.analysis.autointerp.examples import Example, draw_windows, plain
from ssae_core.infra.config import stable_hash
from ssae_core.infra.workspace import Workspace, atomic_write_json

if TYPE_CHECKING:
    from ssae_core.models.base import Base

FUZZ_THRESHOLD = 0.3
"""A token of an activating window is marked when its activation is >= this share of the window's
peak (delphi's ``FuzzingScorer`` threshold)."""


@dataclass(frozen=True)
class ScoringSet:
    """One feature's scoring sample: activating and silent windows."""

    feature: int
    active: tuple[Example, ...]
    silent: tuple[Example, ...]

    def digest(self) -> str:
        return stable_hash(
            [[list(e.tokens), [round(a, 4) for a in e.acts]] for e in self.active + self.silent]
        )[:16]


@dataclass(frozen=True)
class Score:
    """One scorer's verdict on one explanation."""

    scorer: str
    value: float  # balanced accuracy (detection, fuzzing) or AUROC (embedding); NaN if unanswered
    truth: list[int]
    answers: list[float]  # 0/1 predictions, or cosines


def balanced_accuracy(truth: list[int], pred: list[int]) -> float:
    """(TPR + TNR) / 2; NaN when either class is missing."""
    t, p = np.asarray(truth, bool), np.asarray(pred, bool)
    if t.all() or not t.any():
        return float("nan")
    return float(((p & t).sum() / t.sum() + (~p & ~t).sum() / (~t).sum()) / 2)


def auroc(truth: list[int], scores: list[float]) -> float:
    """P(score of a random positive > score of a random negative), ties half (Mann-Whitney)."""
    t, s = np.asarray(truth, bool), np.asarray(scores, float)
    pos, neg = s[t], s[~t]
    if not len(pos) or not len(neg):
        return float("nan")
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def fuzzed(sample: ScoringSet, seed: int) -> tuple[list[Example], list[int]]:
    """The fuzzing contexts in a seeded order, as Examples whose ``acts`` mark the tokens shown
    between << >> (1.0) and the rest (0.0), with their truth (1: marked correctly)."""
    rng = np.random.default_rng(seed)
    correct = []
    for e in sample.active:
        acts = np.asarray(e.acts)
        correct.append(_marked(e, acts >= FUZZ_THRESHOLD * acts.max()))
    count = math.ceil(np.mean([sum(1 for a in e.acts if a > 0) for e in sample.active] or [1]))
    wrong = []
    for e in sample.silent:
        pick = rng.choice(len(e.tokens), size=min(count, len(e.tokens)), replace=False)
        mask = np.zeros(len(e.tokens), bool)
        mask[pick] = True
        wrong.append(_marked(e, mask))
    examples, truth = correct + wrong, [1] * len(correct) + [0] * len(wrong)
    order = rng.permutation(len(examples))
    return [examples[i] for i in order], [truth[i] for i in order]


def _marked(e: Example, mask: np.ndarray) -> Example:
    return Example(e.tokens, tuple(float(m) for m in mask), e.doc, e.start)


class Scorer(ABC):
    """Scores one explanation on one feature's ``ScoringSet``."""

    name: str
    version: int = 1

    @abstractmethod
    async def score(self, explanation: str, sample: ScoringSet) -> Score: ...

    def key(self, backend_label: str) -> str:
        """What a stored score depends on besides the explanation and the sample."""
        return f"{self.name}/{self.version}/{prompts.PROMPT_VERSION}/{backend_label}"


class DetectionScorer(Scorer):
    """The backend's predictor on unmarked contexts; balanced accuracy."""

    name = "detection"

    def __init__(self, backend, seed: int = 0):
        self.backend, self.seed = backend, seed

    async def score(self, explanation: str, sample: ScoringSet) -> Score:
        examples = list(sample.active + sample.silent)
        truth = [1] * len(sample.active) + [0] * len(sample.silent)
        order = np.random.default_rng(self.seed).permutation(len(examples))
        examples, truth = [examples[i] for i in order], [truth[i] for i in order]
        answer = await self.backend.predict(explanation, tuple(examples))
        return _answered(self.name, truth, answer.value)


class FuzzingScorer(Scorer):
    """The backend judges marked contexts: are the marked tokens the feature's? Balanced
    accuracy."""

    name = "fuzzing"

    def __init__(self, backend, seed: int = 0):
        self.backend, self.seed = backend, seed

    async def score(self, explanation: str, sample: ScoringSet) -> Score:
        examples, truth = fuzzed(sample, self.seed)
        answer = await self.backend.fuzz(explanation, tuple(examples))
        return _answered(self.name, truth, answer.value)


class EmbeddingScorer(Scorer):
    """No LLM: AUROC of cos(explanation, context) for activating vs silent contexts."""

    name = "embedding"

    def __init__(self, encoder):
        self.encoder = encoder

    async def score(self, explanation: str, sample: ScoringSet) -> Score:
        from ssae_core.select.retrieval import embed

        texts = [plain(e) for e in sample.active + sample.silent]
        query = explanation.removeprefix(OfflineBackend.PREFIX)
        vectors = embed([query, *texts], self.encoder)
        cosines = (vectors[1:] @ vectors[0]).astype(float).tolist()
        truth = [1] * len(sample.active) + [0] * len(sample.silent)
        return Score(self.name, auroc(truth, cosines), truth, cosines)


def _answered(name: str, truth: list[int], predictions) -> Score:
    if predictions is None:
        return Score(name, float("nan"), truth, [])
    return Score(
        name, balanced_accuracy(truth, predictions), truth, [float(p) for p in predictions]
    )


def score_path(
    ws: Workspace, sae_ref: str, scorer_key: str, explanation: str, sample: ScoringSet
) -> Path:
    key = stable_hash([sae_ref, sample.feature, scorer_key, explanation, sample.digest()])
    return ws.root / "autointerp" / "scores" / key[:2] / f"{key}.json"


async def score_explanations(
    ws: Workspace,
    scorers: list[tuple[Scorer, str]],
    sae_ref: str,
    explanations: dict[int, str],
    samples: dict[int, ScoringSet],
) -> list[dict]:
    """Every (scorer, backend label) on every explained feature with a sample; stored scores are
    reused. One row per (feature, scorer): sae, feature, backend, explanation, scorer, value,
    truth, answers, n."""
    import asyncio

    async def one(scorer: Scorer, label: str, j: int) -> dict:
        path = score_path(ws, sae_ref, scorer.key(label), explanations[j], samples[j])
        if path.exists():
            return json.loads(path.read_text())
        score = await scorer.score(explanations[j], samples[j])
        row = {"sae": sae_ref, "feature": j, "backend": label, "explanation": explanations[j]}
        row.update(asdict(score))
        row["n"] = len(score.truth)
        atomic_write_json(path, row)
        return row

    jobs = [one(s, label, j) for s, label in scorers for j in explanations if j in samples]
    return list(await asyncio.gather(*jobs))


def scoring_sets(
    base: Base,
    sae,
    docs: list[np.ndarray],
    features_table,
    features: list[int],
    seed: int = 0,
    n: int = 10,
    skip_top: int = 10,
    before: int = 24,
    after: int = 8,
) -> dict[int, ScoringSet]:
    """Each feature's ``ScoringSet`` (module docstring), with one LM pass over the documents
    needed (``examples.draw_windows``). The top ``skip_top`` documents (the explanation's) are
    left out."""
    rng = np.random.default_rng([seed, 1])  # its own stream: the explain / predict draws stay
    drawn = draw_windows(
        base, sae, docs, features_table, features, rng, 0, skip_top, n, n, before, after
    )
    return {j: ScoringSet(j, w.spread, w.silent) for j, w in drawn.items()}
