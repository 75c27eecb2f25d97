"""SHIFT end to end, stored in the workspace (Marks et al. §4; SAEBench's SCR).

``rank`` (artifact ``shift``, one per SAE × task): pool the task's activations and the SAE's
latents, fit the probe on the biased split and the oracle probe on the balanced one, rank
the latents by attribution to the probe, suggest the spurious ones (ground truth: the cue
explains at least half of a latent's pooled activation on the balanced split, and more than
the label does), keep each top latent's logit-lens tokens and top documents.

``score`` (artifact ``shift_score``, one per ``shift`` artifact × latent set): remove the
latents from the pooled activations (error term kept), score the same probe, then a probe
retrained on the ablated training split; accuracy, per group and worst group on the balanced
test split, and the normalized SCR score ``(acc_ablated - acc) / (acc_oracle - acc)``.
Scoring reads only the ``shift`` artifact: no LM, no SAE.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import torch

from ssae_core.analysis.autointerp.examples import feature_acts, token_texts
from ssae_core.analysis.shift import latents as lat
from ssae_core.analysis.shift.probe import GroupScores, Probe, fit_probe, group_scores
from ssae_core.analysis.shift.task import Task
from ssae_core.infra.config import Config
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Artifact, Workspace, atomic_write_json
from ssae_core.models.lens import logit_lens
from ssae_core.select import retrieval

if TYPE_CHECKING:
    from ssae_core.evaluate.sae_set import NamedSAE
    from ssae_core.models.base import Base


@dataclass(frozen=True)
class ShiftConfig(Config):
    """The probe and the latent table."""

    probe_c: float = 1.0
    """Inverse L2 strength of the logistic probes (on z-scored pooled activations)."""
    top_k: int = 40
    """Latents in the ranked table (by |attribution|); suggestions come from these."""
    cue_r2: float = 0.5
    """Suggest a top latent as spurious when the cue explains at least this share of its pooled
    activation's variance on the balanced oracle split (ground truth: each document's cue),
    and more of it than the label does."""
    examples: int = 3
    """Top task documents kept per top latent, with per-token activations."""
    version: int = 3
    """2: suggestions by the cue's R². 3: scores say how often the probe follows the cue."""


@dataclass(frozen=True)
class ScoreConfig(Config):
    """Which latents a score removes."""

    latents: tuple[int, ...] = field(default_factory=tuple)
    probe_c: float = 1.0
    version: int = 2
    """2: scores say how often the probe follows the cue."""


class ShiftScore(NamedTuple):
    """Probe accuracy on the balanced test split before and after removing latents."""

    before: GroupScores
    ablated: GroupScores
    retrained: GroupScores
    """A probe retrained on the ablated training split."""
    oracle: GroupScores
    """A probe trained on the balanced oracle split (no ablation)."""
    scr: float
    """(acc_ablated - acc) / (acc_oracle - acc); nan when the oracle is no better."""
    latents: tuple[int, ...]

    def to_dict(self) -> dict:
        out = {k: v._asdict() for k, v in self._asdict().items() if isinstance(v, GroupScores)}
        return {**out, "scr": self.scr, "latents": list(self.latents)}

    @classmethod
    def from_dict(cls, d: dict) -> ShiftScore:
        scores = {k: GroupScores(**d[k]) for k in ("before", "ablated", "retrained", "oracle")}
        return cls(**scores, scr=d["scr"], latents=tuple(d["latents"]))


@dataclass
class ShiftData:
    """What a ``shift`` artifact holds, loaded."""

    art: Artifact
    task: pd.DataFrame
    pooled: lat.Pooled
    probe: Probe
    table: pd.DataFrame
    """Top latents: latent, attribution, scr, cue_r2, label_r2, cue_share, frequency, lens,
    suggested."""
    examples: dict[int, list[dict]]

    @property
    def sae_label(self) -> str:
        return self.art.summary["sae"]

    @property
    def suggested(self) -> list[int]:
        return [int(i) for i in self.table.latent[self.table.suggested]]

    def arrays(self, split: str):
        rows = (self.task.split == split).to_numpy()
        return rows, self.task.label_id.to_numpy()[rows], self.task.group_id.to_numpy()[rows]

    def columns(self, latents) -> np.ndarray:
        """Columns of the pooled latents for SAE latent ids (ConfigError for ids that never
        fire on the task)."""
        where = {int(i): c for c, i in enumerate(self.pooled.active)}
        missing = [int(i) for i in latents if int(i) not in where]
        if missing:
            raise ConfigError(
                f"Latents {missing[:10]} never fire on this task, so removing them changes"
                " nothing; pick latents from the ranked table."
            )
        return np.array([where[int(i)] for i in latents], dtype=np.int64)


def rank(
    ws: Workspace,
    base: Base,
    sae: NamedSAE,
    task: Task,
    cfg: ShiftConfig | None = None,
    progress: Progress | None = None,
) -> Artifact:
    """The ``shift`` artifact of ``sae`` on ``task`` (built once)."""
    cfg = cfg or ShiftConfig()
    progress = progress or Silent()

    def build(out: Path) -> dict:
        model = base.model
        docs = retrieval.tokenize(task.texts, base.tokenizer, model.cfg.n_ctx)
        cue_ids = lat.cue_token_ids(base.tokenizer, task.cue_words) if task.cue_words else set()
        progress.stage(f"pool activations ({sae.label})", len(docs))
        pooled = lat.pool(model, sae.sae, base.hook_name, docs, cue_ids, progress.update)
        train, test, oracle = (task.split == s for s in ("train", "test", "oracle"))
        probe = fit_probe(pooled.x[train], task.label[train], cfg.probe_c)
        names = task.group_names
        before = group_scores(
            probe.predict(pooled.x[test]), task.label[test], task.group[test], names
        )
        table = _latent_table(pooled, probe, task, train, cfg)
        table["lens"] = _lens(model, pooled.dirs[table.column.to_numpy()])
        examples = _examples(base, sae.sae, docs, pooled, table, cfg.examples)
        _save(out, task, pooled, probe, table, examples)
        summary = {
            "sae": sae.label,
            "sae_ref": sae.ref,
            "task": task.name,
            "labels": list(task.label_names),
            "cues": list(task.cue_names),
            "n_active": int(len(pooled.active)),
            "l0": round(pooled.l0, 3),
            "before": before._asdict(),
            "suggested": [int(i) for i in table.latent[table.suggested]],
        }
        if oracle.any():
            o = fit_probe(pooled.x[oracle], task.label[oracle], cfg.probe_c)
            pred = o.predict(pooled.x[test])
            summary["oracle"] = group_scores(
                pred, task.label[test], task.group[test], names
            )._asdict()
        return summary

    return ws.build("shift", cfg, build, [base.ref, sae.ref, task.ref])


def _latent_table(pooled: lat.Pooled, probe: Probe, task: Task, train, cfg: ShiftConfig):
    attr = lat.attribution(pooled.f[train], pooled.dirs, probe.w, task.label[train])
    scr = lat.scr(pooled.f[train], pooled.dirs, probe.w, task.cue[train])
    top = np.argsort(-np.abs(attr), kind="stable")[: cfg.top_k]
    balanced = task.split == "oracle" if (task.split == "oracle").any() else train
    f = pooled.f[balanced][:, top]
    cue_r2 = lat.r2(f, task.cue[balanced])
    label_r2 = lat.r2(f, task.label[balanced])
    table = pd.DataFrame(
        {
            "latent": pooled.active[top],
            "column": top,
            "attribution": attr[top],
            "scr": scr[top],
            "cue_r2": cue_r2,
            "label_r2": label_r2,
            "cue_share": pooled.cue_share[top],
            "frequency": (pooled.f[:, top] > 0).mean(0),
        }
    )
    table["suggested"] = (cue_r2 >= cfg.cue_r2) & (cue_r2 > label_r2)
    return table


def _lens(model, dirs: np.ndarray, k: int = 5) -> list[str]:
    """Each direction's top ``k`` logit-lens tokens, space-separated."""
    if not len(dirs):
        return []
    top, _ = logit_lens(model, torch.from_numpy(dirs), k)
    return [" ".join(model.tokenizer.convert_ids_to_tokens(row.tolist())) for row in top]


def _examples(base: Base, sae, docs, pooled: lat.Pooled, table: pd.DataFrame, k: int):
    """Per top latent: its ``k`` documents of highest mean activation, tokens and activations
    (one LM pass over all of them)."""
    best = {
        int(latent): np.argsort(-pooled.f[:, col], kind="stable")[:k]
        for latent, col in zip(table.latent, table.column)
    }
    needed = sorted({int(i) for rows in best.values() for i in rows})
    acts = feature_acts(base, sae, docs, needed, list(best))
    text = token_texts(base.tokenizer)
    return {
        latent: [
            {
                "doc": int(i),
                "tokens": [text(int(t)) for t in docs[i][: len(acts[i])]],
                "acts": [round(float(v), 4) for v in acts[i][:, j]],
            }
            for i in rows
        ]
        for j, (latent, rows) in enumerate(best.items())
    }


def _save(out: Path, task: Task, pooled: lat.Pooled, probe: Probe, table, examples) -> None:
    frame = task.table()
    frame["label_id"], frame["group_id"] = task.label, task.group
    frame.to_parquet(out / "task.parquet", index=False)
    np.savez(out / "pooled.npz", **pooled._asdict(), probe_w=probe.w, probe_b=probe.b)
    table.to_parquet(out / "latents.parquet", index=False)
    atomic_write_json(out / "examples.json", {str(k): v for k, v in examples.items()})


def load(art: Artifact) -> ShiftData:
    """A ``shift`` artifact's contents."""
    with np.load(art.file("pooled.npz")) as z:
        pooled = lat.Pooled(*(z[name] for name in lat.Pooled._fields[:-1]), float(z["l0"]))
        probe = Probe(z["probe_w"], float(z["probe_b"]))
    examples = json.loads(art.file("examples.json").read_text())
    return ShiftData(
        art,
        pd.read_parquet(art.file("task.parquet")),
        pooled,
        probe,
        pd.read_parquet(art.file("latents.parquet")),
        {int(k): v for k, v in examples.items()},
    )


def score(ws: Workspace, data: ShiftData, latents, probe_c: float = 1.0) -> ShiftScore:
    """Remove ``latents`` (SAE ids) and score; stored as a ``shift_score`` artifact."""
    cfg = ScoreConfig(tuple(sorted({int(i) for i in latents})), probe_c)
    cols = data.columns(cfg.latents)

    def build(out: Path) -> dict:
        return compute_score(data, cols, cfg).to_dict()

    art = ws.build("shift_score", cfg, build, [data.art.ref])
    return ShiftScore.from_dict(art.summary)


def compute_score(data: ShiftData, cols: np.ndarray, cfg: ScoreConfig) -> ShiftScore:
    """The numbers ``score`` stores."""
    p = data.pooled
    names = data.task.drop_duplicates("group_id").set_index("group_id").group.sort_index().tolist()
    train, y_train, _ = data.arrays("train")
    test, y_test, g_test = data.arrays("test")
    oracle, y_oracle, _ = data.arrays("oracle")
    ablated = lat.ablate(p.x, p.f, p.dirs, cols)

    def scores(probe: Probe, x: np.ndarray) -> GroupScores:
        return group_scores(probe.predict(x[test]), y_test, g_test, names)

    before = scores(data.probe, p.x)
    after = scores(data.probe, ablated)
    retrained = scores(fit_probe(ablated[train], y_train, cfg.probe_c), ablated)
    best = scores(fit_probe(p.x[oracle], y_oracle, cfg.probe_c), p.x) if oracle.any() else before
    gap = best.accuracy - before.accuracy
    scr = (after.accuracy - before.accuracy) / gap if gap > 0 else float("nan")
    return ShiftScore(before, after, retrained, best, scr, cfg.latents)


def with_explanations(table: pd.DataFrame, explanations: dict[int, str], cue_words) -> pd.DataFrame:
    """The latent table with each latent's stored explanation (autointerp); a latent whose
    explanation names one of the cue's words is suggested too."""
    words = {w.lower() for w in cue_words}
    out = table.assign(explanation=table.latent.map(lambda i: explanations.get(int(i), "")))
    named = out.explanation.map(lambda e: bool(words & set(re.findall(r"[a-z]+", e.lower()))))
    return out.assign(suggested=out.suggested | named)


STAGES = ("before", "ablated", "retrained", "oracle")
STAGE_NAMES = {
    "before": "before",
    "ablated": "removed",
    "retrained": "retrained",
    "oracle": "oracle",
}


def group_table(scores: dict[str, ShiftScore]) -> pd.DataFrame:
    """Long table (sae, stage, group, accuracy) of every SAE's scores, "worst" as a group: what
    ``analysis_plots.shift_groups`` draws."""
    rows = []
    for sae, score in scores.items():
        for stage in STAGES:
            s: GroupScores = getattr(score, stage)
            for group, acc in [*sorted(s.groups.items()), ("worst", s.worst)]:
                rows.append((sae, STAGE_NAMES[stage], group, acc))
    return pd.DataFrame(rows, columns=["sae", "stage", "group", "accuracy"])


def summary_table(datas: list[ShiftData], scores: dict[str, ShiftScore]) -> pd.DataFrame:
    """One row per SAE: latents active and L0 on the task; at each stage accuracy, worst-group
    accuracy and agreement with the cue; SCR."""
    rows = []
    for d in datas:
        row = {
            "SAE": d.sae_label,
            "active latents": d.art.summary["n_active"],
            "L0": d.art.summary["l0"],
        }
        score = scores.get(d.sae_label)
        if score is not None:
            row["removed"] = len(score.latents)
            for stage in STAGES:
                s = getattr(score, stage)
                row[f"acc {STAGE_NAMES[stage]}"] = s.accuracy
                row[f"worst {STAGE_NAMES[stage]}"] = s.worst
                row[f"cue {STAGE_NAMES[stage]}"] = s.cue
            row["SCR"] = score.scr
        rows.append(row)
    return pd.DataFrame(rows)


def stored(ws: Workspace, base_ref: str, task: Task) -> list[Artifact]:
    """The ``shift`` artifacts of this base and task in the workspace, oldest first."""
    arts = [
        a
        for a in ws.list("shift")
        if base_ref in a.manifest["inputs"] and task.ref in a.manifest["inputs"]
    ]
    return sorted(arts, key=lambda a: a.manifest["created"])
