"""Score features: explain, predict, F1; results stored one file per (SAE, feature, prompt
version, backend/model, examples hash) under ``<workspace>/autointerp/``, so a rerun skips
what is done and an interrupted run resumes.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ssae_core.analysis.autointerp import prompts
from ssae_core.analysis.autointerp.backends import Answer, ClaudeConfig, Usage
from ssae_core.analysis.autointerp.examples import FeatureExamples, marked, plain
from ssae_core.infra.config import Config, stable_hash
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Workspace, atomic_write_json

if TYPE_CHECKING:
    from ssae_core.models.base import Base


@dataclass(frozen=True)
class AutointerpConfig(Config):
    n_features: int = 20
    """Random features live in every SAE (the same ones for all)."""
    seed: int = 0
    """Seed of the feature draw and of the examples' sampling."""
    budget_usd: float = 0.0
    """Stop starting features once this much is spent (0: no cap)."""
    version: int = 1


def f1_scores(truth: list[int], pred: list[int]) -> dict[str, float]:
    """F1, precision, recall and accuracy of binary predictions (0 where undefined)."""
    t, p = np.asarray(truth, bool), np.asarray(pred, bool)
    tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "accuracy": float((t == p).mean()) if len(t) else 0.0,
    }


def result_path(
    ws: Workspace, sae_ref: str, feature: int, backend_label: str, examples_hash: str
) -> Path:
    key = stable_hash([sae_ref, feature, prompts.PROMPT_VERSION, backend_label, examples_hash])
    return ws.root / "autointerp" / key[:2] / f"{key}.json"


def common_live_features(counts: list[np.ndarray], n: int, seed: int) -> list[int]:
    """``n`` features (sorted) drawn with ``seed`` among those that fire in every SAE compared."""
    live = np.flatnonzero(np.all([c > 0 for c in counts], axis=0))
    pick = np.random.default_rng(seed).choice(live, size=min(n, len(live)), replace=False)
    return sorted(int(i) for i in pick)


def estimate(
    examples: list[FeatureExamples], cfg: ClaudeConfig, batches: bool = False
) -> dict[str, float]:
    """Upper-bound tokens and USD for scoring these features with Claude (about 4 characters per
    token; no retries, no cache; the Message Batches API at half price when ``batches``)."""
    chars_in = sum(
        len(prompts.INTERPRETER_SYSTEM)
        + len(prompts.interpreter_message([marked(e) for e in fx.explain], list(fx.lens_tokens)))
        + len(prompts.PREDICTOR_SYSTEM)
        + len(prompts.predictor_message("x" * 150, [plain(e) for e in fx.held_out]))
        for fx in examples
    )
    usage = Usage(chars_in // 4, len(examples) * (cfg.explain_max_tokens + cfg.predict_max_tokens))
    return {
        "features": len(examples),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "usd": cfg.cost(usage) / (2 if batches else 1),
    }


async def score_features(
    ws: Workspace,
    backend,
    sae_ref: str,
    examples: list[FeatureExamples],
    budget_usd: float = 0.0,
    cfg: ClaudeConfig = ClaudeConfig(),
    progress: Progress | None = None,
) -> list[dict]:
    """Explain and score every feature (stored results are reused); stops starting new features once
    the budget is spent."""
    progress = progress or Silent()
    progress.stage(f"autointerp ({backend.label}) on {sae_ref}", len(examples))
    spent = Usage()
    per_feature = estimate(examples[:1], cfg)["usd"] if examples else 0.0
    gate = asyncio.Semaphore(
        cfg.concurrency
    )  # features start as slots free, so the budget check sees what was spent
    reserved = 0.0

    async def one(fx: FeatureExamples) -> dict:
        nonlocal reserved
        path = result_path(ws, sae_ref, fx.feature, backend.label, fx.digest())
        if path.exists():
            progress.update(1)
            return json.loads(path.read_text())
        async with gate:
            if budget_usd and cfg.cost(spent) + reserved + per_feature > budget_usd:
                return {"sae": sae_ref, "feature": fx.feature, "status": "skipped: budget reached"}
            reserved += per_feature  # an upper bound until the real usage is known
            try:
                result = await _score_one(backend, sae_ref, fx)
            finally:
                reserved -= per_feature
        spent.add(Usage(result["input_tokens"], result["output_tokens"]))
        atomic_write_json(path, result)
        progress.update(1)
        return result

    return list(await asyncio.gather(*(one(fx) for fx in examples)))


async def _score_one(backend, sae_ref: str, fx: FeatureExamples) -> dict:
    explained: Answer = await backend.explain(fx)
    predicted = (
        await backend.predict(explained.value, fx.held_out) if explained.value is not None else None
    )
    return _assemble(backend, sae_ref, fx, explained, predicted)


def _assemble(
    backend, sae_ref: str, fx: FeatureExamples, explained: Answer, predicted: Answer | None
) -> dict:
    """The stored result of one feature from its interpreter and predictor answers."""
    truth = [int(e.active) for e in fx.held_out]
    usage = Usage()
    for answer in (explained, predicted):
        if answer is not None:
            usage.add(answer.usage)
    row = {
        "sae": sae_ref,
        "feature": fx.feature,
        "backend": backend.label,
        "prompt_version": prompts.PROMPT_VERSION,
        "examples_hash": fx.digest(),
        "truth": truth,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
    }
    if explained.value is None:
        return {**row, "status": "failed: explanation unparseable", "raw": explained.raw}
    row["explanation"] = explained.value
    if predicted.value is None:
        return {**row, "status": "failed: predictions unparseable", "raw": predicted.raw}
    return {
        **row,
        "status": "ok",
        "predictions": predicted.value,
        **f1_scores(truth, predicted.value),
    }


async def score_features_batched(
    ws: Workspace,
    backend,
    sae_ref: str,
    examples: list[FeatureExamples],
    poll_s: float = 60.0,
    progress: Progress | None = None,
) -> list[dict]:
    """``score_features`` through the Message Batches API (half price, hours not seconds): one batch
    of explanations, one of reminders for unparseable ones, the same for predictions; matched by id.
    """
    progress = progress or Silent()
    done, todo = {}, []
    for fx in examples:
        path = result_path(ws, sae_ref, fx.feature, backend.label, fx.digest())
        if path.exists():
            done[fx.feature] = json.loads(path.read_text())
        else:
            todo.append(fx)
    progress.stage(f"autointerp batches ({backend.label}) on {sae_ref}", len(todo))
    explained = await _parsed_batches(
        backend,
        {
            f"f{fx.feature}": (
                prompts.INTERPRETER_SYSTEM,
                prompts.interpreter_message([marked(e) for e in fx.explain], list(fx.lens_tokens)),
                backend.cfg.explain_max_tokens,
                prompts.parse_explanation,
                prompts.EXPLAIN_REMINDER,
            )
            for fx in todo
        },
        poll_s,
    )
    ready = [fx for fx in todo if explained[f"f{fx.feature}"].value is not None]
    predicted = await _parsed_batches(
        backend,
        {
            f"f{fx.feature}": (
                prompts.PREDICTOR_SYSTEM,
                prompts.predictor_message(
                    explained[f"f{fx.feature}"].value, [plain(e) for e in fx.held_out]
                ),
                backend.cfg.predict_max_tokens,
                functools.partial(prompts.parse_predictions, n=len(fx.held_out)),
                prompts.PREDICT_REMINDER.format(n=len(fx.held_out)),
            )
            for fx in ready
        },
        poll_s,
    )
    for fx in todo:
        result = _assemble(
            backend, sae_ref, fx, explained[f"f{fx.feature}"], predicted.get(f"f{fx.feature}")
        )
        atomic_write_json(result_path(ws, sae_ref, fx.feature, backend.label, fx.digest()), result)
        done[fx.feature] = result
        progress.update(1)
    return [done[fx.feature] for fx in examples]


async def _parsed_batches(backend, asks: dict, poll_s: float) -> dict[str, Answer]:
    """``{id: (system, message, max_tokens, parse, reminder)}`` -> parsed Answers, with one reminder
    batch for the unparseable."""
    if not asks:
        return {}
    first = await backend.batch(
        {
            cid: (system, [{"role": "user", "content": msg}], mt)
            for cid, (system, msg, mt, _, _) in asks.items()
        },
        poll_s,
    )
    answers = {
        cid: Answer(asks[cid][3](text) if text else None, text, used)
        for cid, (text, used) in first.items()
    }
    retry = {
        cid: (
            asks[cid][0],
            [
                {"role": "user", "content": asks[cid][1]},
                {"role": "assistant", "content": answers[cid].raw or "(empty)"},
                {"role": "user", "content": asks[cid][4]},
            ],
            asks[cid][2],
        )
        for cid, a in answers.items()
        if a.value is None
    }
    if retry:
        for cid, (text, used) in (await backend.batch(retry, poll_s)).items():
            used.add(answers[cid].usage)
            answers[cid] = Answer(
                asks[cid][3](text) if text else None, text or answers[cid].raw, used
            )
    return answers


SCORERS = ("detection", "fuzzing", "embedding")
"""The scores beyond the predictor's F1 (``scorers``)."""


def results_table(
    results: list[dict], labels: dict[str, str], scores: list[dict] = ()
) -> pd.DataFrame:
    """One row per scored feature: SAE label, feature, backend, status, explanation, F1,
    precision, recall, accuracy, and a column per scorer (``scores``: ``score_explanations``
    rows; NaN where a scorer did not run)."""
    table = pd.DataFrame(results)
    for col in ("explanation", "f1", "precision", "recall", "accuracy", "backend"):
        if col not in table:
            table[col] = np.nan
    table.insert(0, "label", table.sae.map(labels).fillna(table.sae))
    keys = ["sae", "feature", "backend", "explanation"]
    if len(scores):
        wide = pd.DataFrame(scores).pivot_table(index=keys, columns="scorer", values="value")
        table = table.join(wide, on=keys)
    for name in SCORERS:
        if name not in table:
            table[name] = np.nan
    columns = ["label", "sae", "feature", "backend", "status", "explanation"]
    return table[[*columns, "f1", "precision", "recall", "accuracy", *SCORERS]]


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per SAE (``results_table``'s label): features scored, the mean and median F1, and the mean
    of each other score."""
    by = table.groupby("label", sort=False)
    return by.f1.agg(["count", "mean", "median"]).join(by[list(SCORERS)].mean()).reset_index()


def run_scorers(
    ws: Workspace,
    base: Base,
    saes: list,
    split,
    results: list[dict],
    backend,
    names: tuple[str, ...] = SCORERS,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[dict]:
    """Detection, fuzzing and embedding scores (those in ``names``) of every explanation in
    ``results``, each on its feature's ``scorers.ScoringSet`` (one LM pass per SAE); stored
    scores are reused."""
    from ssae_core.analysis.autointerp import scorers as sc
    from ssae_core.evaluate.evaluation import evaluate, load_features, split_docs

    unknown = set(names) - set(SCORERS)
    if unknown:
        raise ConfigError(f"Unknown scorer(s) {sorted(unknown)}; choose among {list(SCORERS)}.")
    if not names:
        return []
    progress = progress or Silent()
    made = {
        "detection": lambda: sc.DetectionScorer(backend, seed),
        "fuzzing": lambda: sc.FuzzingScorer(backend, seed),
        "embedding": lambda: sc.EmbeddingScorer(_encoder()),
    }
    chosen = [(made[n](), backend.label) for n in names]
    evals = evaluate(ws, base, saes, split, progress=progress)
    rows = []
    progress.stage(f"scores ({', '.join(names)})", len(saes))
    for s in saes:
        explained = {
            int(r["feature"]): r["explanation"]
            for r in results
            if r.get("sae") == s.ref and r.get("status") == "ok"
        }
        table = load_features(evals[s.ref]).set_index("feature")
        samples = sc.scoring_sets(
            base, s.sae, split_docs(evals[s.ref]), table, sorted(explained), seed
        )
        rows += run_sync(sc.score_explanations(ws, chosen, s.ref, explained, samples))
        progress.update(1)
    return rows


@functools.cache
def _encoder():
    from ssae_core.select.retrieval import load_encoder

    return load_encoder()


def stored_scores(ws: Workspace, sae_refs: list[str] | None = None) -> list[dict]:
    """Every stored scorer result (optionally of some SAEs only)."""
    return _stored(ws.root / "autointerp" / "scores", sae_refs)


def prepare(
    ws: Workspace,
    base: Base,
    saes: list,
    split,
    cfg: AutointerpConfig,
    progress: Progress | None = None,
) -> dict[str, list[FeatureExamples]]:
    """Per SAE ref: the examples of the same ``cfg.n_features`` random features live in every SAE
    (evaluations reused)."""
    from ssae_core.analysis.autointerp.examples import build_examples
    from ssae_core.evaluate.evaluation import evaluate, load_features, split_docs

    evals = evaluate(ws, base, saes, split, progress=progress)
    tables = {s.ref: load_features(evals[s.ref]).set_index("feature") for s in saes}
    features = common_live_features(
        [t["count"].to_numpy() for t in tables.values()], cfg.n_features, cfg.seed
    )
    return {
        s.ref: build_examples(
            base, s.sae, split_docs(evals[s.ref]), tables[s.ref], features, cfg.seed
        )
        for s in saes
    }


def run_autointerp(
    ws: Workspace,
    examples: dict[str, list[FeatureExamples]],
    backend,
    cfg: AutointerpConfig,
    claude: ClaudeConfig = ClaudeConfig(),
    progress: Progress | None = None,
    batches: bool = False,
) -> list[dict]:
    """Score every SAE's features with one event loop (the backend's concurrency bound is shared),
    or through the Message Batches API when ``batches`` (Claude only; no budget cap: the estimate is
    shown first).
    """

    async def everything():
        if batches:
            return [
                r
                for ref, fxs in examples.items()
                for r in await score_features_batched(ws, backend, ref, fxs, progress=progress)
            ]
        runs = [
            score_features(ws, backend, ref, fxs, cfg.budget_usd, claude, progress)
            for ref, fxs in examples.items()
        ]
        return [r for rows in await asyncio.gather(*runs) for r in rows]

    return run_sync(everything())


def run_sync(coro):
    """Run a coroutine to completion from sync code, also where this thread already runs an event
    loop (Jupyter, a sync Playwright session): then on a fresh loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def stored_results(ws: Workspace, sae_refs: list[str] | None = None) -> list[dict]:
    """Every stored result (optionally of some SAEs only), any backend and prompt version."""
    return _stored(ws.root / "autointerp", sae_refs)


def _stored(folder: Path, sae_refs: list[str] | None) -> list[dict]:
    """The JSON rows in ``folder``'s two-hex-digit subfolders (of the SAEs ``sae_refs``)."""
    rows = []
    for path in sorted(folder.glob("[0-9a-f][0-9a-f]/*.json")):
        row = json.loads(path.read_text())
        if sae_refs is None or row.get("sae") in sae_refs:
            rows.append(row)
    return rows
