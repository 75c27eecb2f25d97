# ruff: noqa: N815 (record fields are Neuronpedia's camelCase column names)
"""An SAE's features in the layout a self-hosted Neuronpedia imports.

Layout (SAEDashboard's ``sae_dashboard/neuronpedia/neuronpedia_export.py``, Neuronpedia's
``apps/webapp/app/api/admin/import/route.ts``)::

    {model_id}/{source_id}/
        release.jsonl  model.jsonl  sourceset.jsonl  source.jsonl     one JSON object each
        features/batch-N.jsonl.gz        one Neuron row per line
        activations/batch-N.jsonl.gz     one Activation row per line (top examples)
        explanations/batch-N.jsonl.gz    one Explanation row per line, when autointerp ran

Field names are the Neuronpedia database's columns (``apps/webapp/prisma/schema.prisma``): its
importer keeps the columns it knows and drops the rest, so a misspelt name would silently vanish;
``tests/test_neuronpedia.py`` validates every record against a schema written from those files.
A source id is ``{layer}-{set name}`` (``6-res-ssae``); ``layer`` in feature, activation and
explanation rows is that source id, and ``index`` the latent's index as text.

What each feature row holds: ``maxActApprox`` (largest activation on the split), ``frac_nonzero``
(share of the split's tokens it fires on), the activation histogram of its nonzero activations
(``freq_hist_data_bar_values`` = bin centres, ``..._heights`` = token counts), and the logit
lens (``pos_str`` / ``pos_values``: the tokens its decoder direction promotes most, with their
logits; ``neg_*`` the most suppressed). Activation rows are its top windows with per-token values.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ssae_core.analysis.autointerp.examples import token_texts, top_windows_of
from ssae_core.evaluate.features import HIST_EDGES
from ssae_core.infra.config import Config
from ssae_core.infra.errors import ConfigError
from ssae_core.models.activations import word_level
from ssae_core.models.lens import unembed_directions

if TYPE_CHECKING:
    import pandas as pd

    from ssae_core.infra.progress import Progress
    from ssae_core.models.base import Base

NEURONPEDIA_BOT = "clkht01d40000jv08hvalcvly"
"""The user id Neuronpedia's seed creates and its exporters fall back to (``creatorId`` and
``authorId`` must name an existing user)."""


@dataclass(frozen=True)
class ExportConfig(Config):
    """How an SAE is named and cut into files for Neuronpedia."""

    model_id: str = ""
    """Neuronpedia model id (default: the base model's name, lower-cased, e.g. gpt2-small)."""
    set_name: str = ""
    """Source set name, the part after the layer in the source id (default: res-ssae, or
    res-gsae for the GSAE; mlp-/att- for those hooks)."""
    creator_id: str = NEURONPEDIA_BOT
    """Neuronpedia user id the rows are created by (must exist in the instance)."""
    creator_name: str = "SSAE Studio"
    """Shown as the release's and source set's creator."""
    examples: int = 10
    """Top activating examples (windows) exported per feature."""
    lens_k: int = 10
    """Logit-lens tokens per feature, each side."""
    batch_features: int = 256
    """Features per features/ and activations/ batch file."""
    explanation_type: str = "oai_token-act-pair"
    """Explanation typeName; it must exist in the instance (a foreign key)."""

    def validate(self) -> None:
        for name in ("model_id", "set_name"):
            value = getattr(self, name)
            if value and not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", value):
                raise ConfigError(
                    f"--{name.replace('_', '-')} {value!r}: use lower-case letters, digits, '.',"
                    " '_' and '-' (it becomes part of Neuronpedia ids and file paths)."
                )
        if self.examples < 1 or self.batch_features < 1 or self.lens_k < 1:
            raise ConfigError("examples, lens_k and batch_features must be at least 1.")


@dataclass
class NeuronRecord:
    """One feature (Neuronpedia table ``Neuron``)."""

    modelId: str
    layer: str
    index: str
    creatorId: str
    sourceSetName: str
    hookName: str
    maxActApprox: float
    frac_nonzero: float
    freq_hist_data_bar_values: list[float]
    freq_hist_data_bar_heights: list[float]
    pos_str: list[str]
    pos_values: list[float]
    neg_str: list[str]
    neg_values: list[float]
    hasVector: bool = False
    createdAt: str = ""


@dataclass
class ActivationRecord:
    """One top activating example (Neuronpedia table ``Activation``)."""

    id: str
    modelId: str
    layer: str
    index: str
    creatorId: str
    tokens: list[str]
    values: list[float]
    maxValue: float
    maxValueTokenIndex: int
    minValue: float
    dataSource: str = ""
    createdAt: str = ""


@dataclass
class ExplanationRecord:
    """One autointerp explanation (Neuronpedia table ``Explanation``)."""

    id: str
    modelId: str
    layer: str
    index: str
    description: str
    authorId: str
    typeName: str
    explanationModelName: str
    notes: str
    createdAt: str = ""


@dataclass(frozen=True)
class Source:
    """Where a source's rows go: its ids and the directory that holds its files."""

    model_id: str
    source_id: str
    set_name: str
    hook_name: str
    out: Path
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat()[:23])


def source_for(base: Base, is_gsae: bool, cfg: ExportConfig, out: Path) -> Source:
    """The ids of the base's hook as a Neuronpedia source, and its directory under ``out``."""
    cfg.validate()
    hook = base.hook_name
    layer = re.match(r"blocks\.(\d+)\.", hook)
    if layer is None:
        raise ConfigError(f"{hook} is not a block hook; Neuronpedia sources are named by layer.")
    kind = "mlp" if "mlp" in hook else "att" if "attn" in hook else "res"
    model_id = cfg.model_id or _slug(base.model.cfg.model_name)
    set_name = cfg.set_name or f"{kind}-{'gsae' if is_gsae else 'ssae'}"
    source_id = f"{layer.group(1)}-{set_name}"
    return Source(model_id, source_id, set_name, hook, out / model_id / source_id)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-") or "model"


def export(
    base: Base,
    sae,
    features: pd.DataFrame,
    docs: list[np.ndarray],
    source: Source,
    cfg: ExportConfig = ExportConfig(),
    explanations: list[dict] = (),
    description: str = "",
    progress: Progress | None = None,
) -> dict:
    """Write ``sae``'s export: ``features`` is its ``sae_eval`` features table on the split whose
    token documents are ``docs``; ``explanations`` stored autointerp results. Returns counts."""
    source.out.mkdir(parents=True, exist_ok=True)
    _write_metadata(base, sae, source, cfg, description, len(docs))
    table = features.set_index("feature")
    live = {int(j) for j in table.index[table["count"] > 0]}
    n_act = 0
    if progress:
        progress.stage("export features", len(table))
    for b, start in enumerate(range(0, len(table), cfg.batch_features)):
        ids = list(range(start, min(start + cfg.batch_features, len(table))))
        lens = _logit_lens(base, sae, ids, cfg.lens_k)
        neurons = [_neuron(table.loc[j], j, lens[i], source, cfg) for i, j in enumerate(ids)]
        firing = [j for j in ids if j in live]
        windows = top_windows_of(base, sae, docs, table, firing, cfg.examples) if firing else []
        acts = [
            _activation(ex, j, r, source, cfg)
            for j, examples in zip(firing, windows)
            for r, ex in enumerate(examples)
        ]
        _write_gz(source.out / "features" / f"batch-{b}.jsonl.gz", neurons)
        _write_gz(source.out / "activations" / f"batch-{b}.jsonl.gz", acts)
        n_act += len(acts)
        if progress:
            progress.update(len(ids))
    made = (_explanation(r, source, cfg) for r in explanations if r.get("status") == "ok")
    rows = list({row.id: row for row in made}.values())  # one per (feature, backend, text)
    if rows:
        _write_gz(source.out / "explanations" / "batch-0.jsonl.gz", rows)
    return {
        "path": str(source.out),
        "source": source.source_id,
        "features": len(table),
        "activations": n_act,
        "explanations": len(rows),
    }


def _write_metadata(base, sae, source: Source, cfg: ExportConfig, description: str, n_docs: int):
    model = base.model.cfg
    release = {
        "name": f"{source.model_id}-{source.set_name}",
        "description": description or f"{source.set_name} SAE exported by SSAE Studio",
        "descriptionShort": source.set_name,
        "creatorName": cfg.creator_name,
        "creatorId": cfg.creator_id,
        "urls": [],
        "visibility": "PUBLIC",
        "createdAt": source.created,
    }
    rows = {
        "release": release,
        "model": {
            "id": source.model_id,
            "displayName": model.model_name,
            "creatorId": cfg.creator_id,
            "layers": int(model.n_layers),
            "neuronsPerLayer": int(model.d_mlp or model.d_model),
            "dimension": int(model.d_model),
            "owner": cfg.creator_name,
            "visibility": "PUBLIC",
            "inferenceEnabled": False,
            "createdAt": source.created,
            "updatedAt": source.created,
        },
        "sourceset": {
            "modelId": source.model_id,
            "name": source.set_name,
            "description": release["description"],
            "type": source.set_name.split("-")[0],
            "creatorName": cfg.creator_name,
            "creatorId": cfg.creator_id,
            "releaseName": release["name"],
            "visibility": "PUBLIC",
            "hasDashboards": True,
            "urls": [],
            "createdAt": source.created,
        },
        "source": {
            "id": source.source_id,
            "modelId": source.model_id,
            "setName": source.set_name,
            "creatorId": cfg.creator_id,
            "hasDashboards": True,
            "visibility": "PUBLIC",
            "num_prompts": n_docs,
            "notes": f"d_sae {sae.cfg.d_sae}, hook {base.hook_name}",
            "createdAt": source.created,
        },
    }
    for name, row in rows.items():
        (source.out / f"{name}.jsonl").write_text(json.dumps(row) + "\n")


@torch.no_grad()
def _logit_lens(base: Base, sae, ids: list[int], k: int):
    """Per feature: ((top tokens, their logits), (bottom tokens, their logits))."""
    logits = unembed_directions(base.model, sae.W_dec[ids].to(base.model.W_U.device)).float()
    text = token_texts(base.tokenizer)
    top, bottom = logits.topk(k, dim=-1), (-logits).topk(k, dim=-1)
    return [
        (
            ([text(int(t)) for t in top.indices[i]], top.values[i].tolist()),
            ([text(int(t)) for t in bottom.indices[i]], (-bottom.values[i]).tolist()),
        )
        for i in range(len(ids))
    ]


def _neuron(row, j: int, lens, source: Source, cfg: ExportConfig) -> NeuronRecord:
    heights = np.asarray(row["hist"], dtype=float)
    centres = np.sqrt(HIST_EDGES[:-1] * HIST_EDGES[1:])  # the log-spaced bins' centres
    used = np.flatnonzero(heights)
    span = slice(used[0], used[-1] + 1) if len(used) else slice(0, 0)
    (pos, pos_v), (neg, neg_v) = lens
    return NeuronRecord(
        modelId=source.model_id,
        layer=source.source_id,
        index=str(j),
        creatorId=cfg.creator_id,
        sourceSetName=source.set_name,
        hookName=source.hook_name,
        maxActApprox=float(row["max_act"]),
        frac_nonzero=float(row["frequency"]),
        freq_hist_data_bar_values=[round(float(c), 5) for c in centres[span]],
        freq_hist_data_bar_heights=heights[span].tolist(),
        pos_str=pos,
        pos_values=pos_v,
        neg_str=neg,
        neg_values=neg_v,
        createdAt=source.created,
    )


def _activation(example, j: int, rank: int, source: Source, cfg: ExportConfig) -> ActivationRecord:
    """Neuronpedia draws the tokens one after the other: word-level tokens get their spaces."""
    tokens = list(example.tokens)
    if word_level(tokens):
        tokens = tokens[:1] + [" " + t for t in tokens[1:]]
    values = [float(a) for a in example.acts]
    top = int(np.argmax(values))
    return ActivationRecord(
        id=_row_id(source, "act", j, rank),
        modelId=source.model_id,
        layer=source.source_id,
        index=str(j),
        creatorId=cfg.creator_id,
        tokens=tokens,
        values=values,
        maxValue=values[top],
        maxValueTokenIndex=top,
        minValue=min(values),
        dataSource=f"document {example.doc} of the split, from token {example.start}",
        createdAt=source.created,
    )


def _explanation(result: dict, source: Source, cfg: ExportConfig) -> ExplanationRecord:
    j = int(result["feature"])
    return ExplanationRecord(
        id=_row_id(source, "exp", j, f"{result.get('backend')}/{result['explanation']}"),
        modelId=source.model_id,
        layer=source.source_id,
        index=str(j),
        description=result["explanation"],
        authorId=cfg.creator_id,
        typeName=cfg.explanation_type,
        explanationModelName=result.get("backend", ""),
        notes=(
            f"SSAE Studio predictor score: F1 {result['f1']:.3f}, precision"
            f" {result['precision']:.3f}, recall {result['recall']:.3f}"
        ),
        createdAt=source.created,
    )


def _row_id(source: Source, kind: str, j: int, which: int | str) -> str:
    """A stable 25-character id (Neuronpedia's cuid length): the same row gets the same id on a
    rerun, so a re-import skips it (``ON CONFLICT DO NOTHING``)."""
    key = f"{source.model_id}/{source.source_id}/{kind}/{j}/{which}"
    return "c" + hashlib.sha256(key.encode()).hexdigest()[:24]


def zipped(folder: Path) -> bytes:
    """An export folder as zip bytes, paths relative to the folder's model directory
    (``{model_id}/{source_id}/...``), for a browser download."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:  # the batches are gzipped
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder.parent.parent))
    return buffer.getvalue()


def _write_gz(path: Path, records: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(asdict(r)) + "\n" for r in records)
    with gzip.open(path, "wt", compresslevel=5) as f:
        f.write(lines)
