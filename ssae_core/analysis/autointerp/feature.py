"""One feature's autointerp, as the feature browser runs it: explain it, predict its held-out
examples and score the explanation (F1, then detection, fuzzing and embedding), all stored like
a batch run's; and the scores stored for one explanation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ssae_core.analysis.autointerp.examples import build_examples
from ssae_core.analysis.autointerp.run import (
    run_scorers,
    run_sync,
    score_features,
    stored_scores,
)
from ssae_core.evaluate.evaluation import evaluate, load_features, split_docs

if TYPE_CHECKING:
    from ssae_core.evaluate.evaluation import TokenSplit
    from ssae_core.evaluate.sae_set import NamedSAE
    from ssae_core.infra.workspace import Workspace
    from ssae_core.models.base import Base


def explain_and_score(
    ws: Workspace, base: Base, sae: NamedSAE, split: TokenSplit, feature: int, backend
) -> list[dict]:
    """Explain feature ``feature`` of ``sae`` from its top windows on ``split``, score the
    explanation by F1 and by every scorer; the stored results (reused when already there)."""
    art = evaluate(ws, base, [sae], split)[sae.ref]
    table = load_features(art).set_index("feature")
    examples = build_examples(base, sae.sae, split_docs(art), table, [feature])
    done = run_sync(score_features(ws, backend, sae.ref, examples))
    run_scorers(ws, base, [sae], split, done, backend)
    return done


def explanation_scores(ws: Workspace, sae_ref: str, result: dict) -> dict[str, float]:
    """The scorers' values (scorer -> value) of a stored explanation ``result`` (a row of
    ``run.stored_results``)."""
    return {
        s["scorer"]: s["value"]
        for s in stored_scores(ws, [sae_ref])
        if s["feature"] == int(result["feature"])
        and (s["backend"], s.get("explanation")) == (result["backend"], result["explanation"])
    }
