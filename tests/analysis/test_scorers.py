"""Detection, fuzzing and embedding scores: the metrics against scikit-learn, the fuzzed contexts
against delphi's rule, the real anthropic client through an httpx2.MockTransport, and caching."""

import json
import math

import httpx2
import numpy as np
import pytest
from helpers import KEY, message
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from ssae_core.analysis.autointerp import prompts
from ssae_core.analysis.autointerp.backends import ClaudeBackend, ClaudeConfig, OfflineBackend
from ssae_core.analysis.autointerp.examples import Example
from ssae_core.analysis.autointerp.run import run_sync
from ssae_core.analysis.autointerp.scorers import (
    DetectionScorer,
    FuzzingScorer,
    ScoringSet,
    auroc,
    balanced_accuracy,
    fuzzed,
    score_explanations,
)
from ssae_core.infra.workspace import Workspace


def test_balanced_accuracy_and_auroc_equal_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        truth = rng.integers(0, 2, 15)
        truth[:2] = [0, 1]
        pred, scores = rng.integers(0, 2, 15), rng.normal(size=15).round(1)  # ties included
        assert balanced_accuracy(truth, pred) == pytest.approx(balanced_accuracy_score(truth, pred))
        assert auroc(truth, scores) == pytest.approx(roc_auc_score(truth, scores))
    assert math.isnan(balanced_accuracy([1, 1], [1, 0])) and math.isnan(auroc([0, 0], [1, 2]))


def _sample() -> ScoringSet:
    active = (
        Example(("the", "quark", "spins", "fast"), (0.0, 2.0, 0.5, 0.7), 0, 0),
        Example(("a", "gluon", "binds", "it"), (0.1, 1.0, 0.0, 0.0), 1, 0),
    )
    silent = (
        Example(("my", "cat", "sat", "down", "here"), (0.0,) * 5, 2, 0),
        Example(("we", "eat", "rice", "today"), (0.0,) * 4, 3, 0),
    )
    return ScoringSet(7, active, silent)


def test_fuzzing_marks_the_activating_tokens_and_as_many_random_ones():
    examples, truth = fuzzed(_sample(), seed=0)
    assert sorted(truth) == [0, 0, 1, 1]
    marked = {e.doc: [t for t, a in zip(e.tokens, e.acts) if a > 0] for e in examples}
    assert marked[0] == ["quark", "fast"], ">= 0.3 of the window's peak 2.0: not 0.5"
    assert marked[1] == ["gluon"], "0.1 < 0.3 x 1.0"
    # the activating windows fire on 3 and 2 tokens: ceil(2.5) = 3 random marks in each silent one
    assert len(marked[2]) == len(marked[3]) == 3
    assert fuzzed(_sample(), seed=0) == (examples, truth) and fuzzed(_sample(), 1) != (
        examples,
        truth,
    )


class Judge:
    """A mock Messages API that answers the fuzzing and predictor prompts by a rule."""

    def __init__(self):
        self.requests = []

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        text = body["messages"][0]["content"]
        lines = [line for line in text.splitlines() if line[:1].isdigit()]
        if body["system"][0]["text"] == prompts.FUZZ_SYSTEM:
            answer = [int("<<quark>>" in line or "<<gluon>>" in line) for line in lines]
        else:
            answer = [int("quark" in line) for line in lines]
        return httpx2.Response(200, json=message(json.dumps(answer)))


def test_claude_detection_and_fuzzing_scores_through_the_real_client(tmp_path):
    judge = Judge()
    claude = ClaudeBackend(
        ClaudeConfig(model="claude-test"),
        api_key=KEY,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(judge)),
    )
    sample = _sample()
    scorers = [(DetectionScorer(claude), claude.label), (FuzzingScorer(claude), claude.label)]
    ws = Workspace(tmp_path)
    rows = run_sync(score_explanations(ws, scorers, "sae/x", {7: "quarks"}, {7: sample}))
    by = {r["scorer"]: r for r in rows}
    # detection: says 1 only for the quark window: TPR 1/2, TNR 2/2
    assert by["detection"]["value"] == pytest.approx(0.75)
    assert sum(by["detection"]["answers"]) == 1 and by["detection"]["truth"].count(1) == 2
    # fuzzing: both activating windows are marked at their real tokens; silent ones never hold them
    assert by["fuzzing"]["value"] == 1.0 and by["fuzzing"]["n"] == 4
    fuzz = next(b for b in judge.requests if b["system"][0]["text"] == prompts.FUZZ_SYSTEM)
    assert (
        "<<quark>>" in fuzz["messages"][0]["content"]
        and "Feature description: quarks" in (fuzz["messages"][0]["content"])
    )
    asked = len(judge.requests)
    run_sync(score_explanations(ws, scorers, "sae/x", {7: "quarks"}, {7: sample}))
    assert len(judge.requests) == asked, "stored scores are not asked for again"
    run_sync(score_explanations(ws, scorers, "sae/x", {7: "gluons"}, {7: sample}))
    assert len(judge.requests) == asked + 2, "a new explanation is scored anew"


def test_offline_fuzzing_reads_the_marked_words():
    b = OfflineBackend()
    examples, truth = fuzzed(_sample(), seed=0)
    answer = run_sync(b.fuzz("tokens: quark | gluon", tuple(examples))).value
    assert balanced_accuracy(truth, answer) == 1.0


def test_scoring_sets_spread_over_the_top_documents_and_stay_apart(quick_world, quick_workspace):
    from ssae_core.analysis.autointerp.scorers import scoring_sets
    from ssae_core.demo.world import world_base
    from ssae_core.evaluate.evaluation import evaluate, load_features, named_split, split_docs
    from ssae_core.evaluate.sae_set import NamedSAE
    from ssae_core.models.base import BaseSpec

    base = world_base(quick_world, BaseSpec(quick=True))
    split = named_split(quick_world, "physics_test")
    art = evaluate(quick_workspace, base, [NamedSAE(base.ref, "GSAE", base.sae)], split)[base.ref]
    table = load_features(art).set_index("feature")
    features = [int(j) for j in table[table["count"] > 0].frequency.nsmallest(4).index]
    sets = scoring_sets(base, base.sae, split_docs(art), table, features, seed=0, n=5)
    for j, sample in sets.items():
        tops = list(table.loc[j].top_doc)
        assert all(e.active for e in sample.active) and not any(e.active for e in sample.silent)
        assert len(sample.silent) == 5 and len(sample.active) == min(5, len(tops) - 10)
        ranks = sorted(tops.index(e.doc) for e in sample.active)
        assert ranks[0] >= 10, "not the documents the explanation was made from"
        slices = np.array_split(np.arange(10, len(tops)), 5)
        assert all(r in s for r, s in zip(ranks, slices)), "one per slice of the rest"
    again = scoring_sets(base, base.sae, split_docs(art), table, features, seed=0, n=5)
    assert [s.digest() for s in again.values()] == [s.digest() for s in sets.values()]
