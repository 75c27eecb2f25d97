"""SHIFT's classification task: documents with a binary label, a binary spurious cue, and three
splits (Marks et al., "Sparse feature circuits", §4; the SSAE paper's Bias in Bios result).

- ``train``: the biased split a probe learns from; label and cue agree in ``agree`` of it
  (label i goes with cue i), half of it per label.
- ``test``: balanced, every (label, cue) group the same size: accuracy here is the target,
  worst-group accuracy the measure of reliance on the cue.
- ``oracle``: a balanced training split of the same size as ``train``: the probe that could
  not learn the cue, the SCR score's ceiling.

Sources: ``demo:bios`` (the demo world's title-less biographies, physics vs medicine with
"she" / "he"), a CSV / jsonl / parquet table with text, label and group columns (a ``split``
column with train / test / oracle is used as is; otherwise the splits are drawn), or
``hf:LabHC/bias_in_bios`` (professor vs nurse by gender) when the Hugging Face Hub can be
reached. Groups are drawn without replacement, deterministic from ``TaskConfig.seed``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ssae_core.infra.config import Config
from ssae_core.infra.errors import ConfigError

SPLITS = ("train", "test", "oracle")
DEMO_TASK = "demo:bios"
BIAS_IN_BIOS = "hf:LabHC/bias_in_bios"
BIOS_LABELS = ("physics", "medicine")
BIOS_CUES = ("he", "she")


@dataclass(frozen=True)
class TaskConfig(Config):
    """How the task's splits are drawn."""

    n_train: int = 1000
    """Documents in the biased training split (and in the balanced oracle split)."""
    n_test: int = 600
    """Documents in the balanced test split (a quarter per group)."""
    agree: float = 0.95
    """Share of training documents whose cue agrees with their label."""
    seed: int = 0
    """Which documents are drawn (and, for demo:bios, written)."""
    label_column: str = "label"
    """Table sources: the label column (two values, or pick two with --labels)."""
    group_column: str = "group"
    """Table sources: the spurious attribute's column (two values)."""
    labels: str = ""
    """Table sources: the two label values to keep, e.g. 21,13 (bias_in_bios: professor,
    nurse); empty: the column must hold exactly two."""
    cue_words: str = ""
    """Words that carry the cue (e.g. she,he,her,his): latents firing mostly on them are
    suggested as spurious. demo:bios knows its own."""

    def validate(self) -> TaskConfig:
        if not 0.5 <= self.agree <= 1:
            raise ConfigError(f"--agree must be in [0.5, 1] (got {self.agree}).")
        if self.n_train < 8 or self.n_test < 8:
            raise ConfigError("--n-train and --n-test must be at least 8 (two per group).")
        return self


@dataclass
class Task:
    """The task's documents in split order, with label and cue as 0 / 1."""

    name: str
    texts: list[str]
    label: np.ndarray
    cue: np.ndarray
    split: np.ndarray
    label_names: tuple[str, str]
    cue_names: tuple[str, str]
    cue_words: tuple[str, ...] = ()

    @property
    def group(self) -> np.ndarray:
        """Group id 2 * label + cue."""
        return 2 * self.label + self.cue

    @property
    def group_names(self) -> list[str]:
        return [f"{lab} / {cue}" for lab in self.label_names for cue in self.cue_names]

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    @property
    def ref(self) -> str:
        """A stable name for the task's content (texts, labels, cues, splits)."""
        h = hashlib.sha256()
        for t, y, c, s in zip(self.texts, self.label, self.cue, self.split):
            h.update(f"{t}\x00{y}{c}{s}\x01".encode())
        h.update(repr((self.label_names, self.cue_names, self.cue_words)).encode())
        return f"task/{h.hexdigest()[:16]}"

    def table(self) -> pd.DataFrame:
        names = self.group_names
        return pd.DataFrame(
            {
                "text": self.texts,
                "label": [self.label_names[y] for y in self.label],
                "cue": [self.cue_names[c] for c in self.cue],
                "group": [names[g] for g in self.group],
                "split": self.split,
            }
        )


def group_sizes(cfg: TaskConfig) -> dict[str, np.ndarray]:
    """Documents per group (index 2 * label + cue) in each split."""
    half = cfg.n_train // 2
    agree = round(half * cfg.agree)
    train = np.array([agree, half - agree, half - agree, agree])  # label i agrees with cue i
    return {
        "train": train,
        "test": np.full(4, cfg.n_test // 4),
        "oracle": np.full(4, cfg.n_train // 4),
    }


def draw_splits(group: np.ndarray, cfg: TaskConfig) -> np.ndarray:
    """The split of each document ("" when unused), drawing each group's documents at random."""
    sizes = group_sizes(cfg)
    need = sum(sizes.values())
    have = np.bincount(group, minlength=4)
    if (have < need).any():
        raise ConfigError(
            f"The task needs {need.tolist()} documents per group (label / cue) but has"
            f" {have.tolist()}; lower --n-train / --n-test or give more documents."
        )
    rng = np.random.default_rng(cfg.seed)
    split = np.full(len(group), "", dtype=object)
    for g in range(4):
        rows = rng.permutation(np.flatnonzero(group == g))
        start = 0
        for name in SPLITS:
            split[rows[start : start + sizes[name][g]]] = name
            start += sizes[name][g]
    return split


def table_task(df: pd.DataFrame, name: str, cfg: TaskConfig) -> Task:
    """A task from a table with a text column, ``cfg.label_column`` and ``cfg.group_column``."""
    cfg.validate()
    for col in ("text", cfg.label_column, cfg.group_column):
        if col not in df.columns:
            raise ConfigError(
                f"The task table has no column {col!r} (it has {list(df.columns)}); give text,"
                " label and group columns (--label-column / --group-column name others)."
            )
    df = df[df.text.map(lambda t: isinstance(t, str) and bool(t.strip()))]
    labels = _values(df[cfg.label_column], cfg.labels, "label")
    df = df[df[cfg.label_column].astype(str).isin(labels)]
    cues = _values(df[cfg.group_column], "", "group")
    label = df[cfg.label_column].astype(str).map(labels.index).to_numpy()
    cue = df[cfg.group_column].astype(str).map(cues.index).to_numpy()
    words = tuple(w.strip().lower() for w in cfg.cue_words.split(",") if w.strip())
    if "split" in df.columns:
        split = df.split.astype(str).to_numpy()
        if not {"train", "test"} <= set(split):
            raise ConfigError("The table's split column needs train and test rows.")
        return Task(name, df.text.tolist(), label, cue, split, tuple(labels), tuple(cues), words)
    return finish_task(name, df.text.tolist(), label, cue, tuple(labels), tuple(cues), cfg, words)


def _values(column: pd.Series, wanted: str, what: str) -> list[str]:
    values = sorted(column.astype(str).unique())
    if wanted:
        values = [v.strip() for v in wanted.split(",") if v.strip()]
        missing = set(values) - set(column.astype(str))
        if len(values) != 2 or missing:
            raise ConfigError(
                f"--labels must name two values of the label column (missing: {sorted(missing)})."
            )
    if len(values) != 2:
        raise ConfigError(
            f"The {what} column has {len(values)} values ({values[:6]}); SHIFT needs exactly two"
            + (" (pick two with --labels)." if what == "label" else ".")
        )
    return values


def finish_task(name, texts, label, cue, label_names, cue_names, cfg, words) -> Task:
    """Keep the drawn documents, in split order (train, test, oracle)."""
    split = draw_splits(2 * label + cue, cfg)
    order = np.concatenate([np.flatnonzero(split == s) for s in SPLITS])
    return Task(
        name,
        [texts[i] for i in order],
        label[order],
        cue[order],
        split[order].astype(str),
        tuple(label_names),
        tuple(cue_names),
        words,
    )


def load_task(spec: str, demo_bios: Callable[[TaskConfig], Task] | None, cfg: TaskConfig) -> Task:
    """The task ``spec`` names: ``demo:bios`` (built by ``demo_bios``, which the demo base offers:
    ``ssae_core.demo.bios``), a table file, or ``hf:LabHC/bias_in_bios``."""
    if spec == DEMO_TASK:
        if demo_bios is None:
            raise ConfigError(
                "demo:bios is the demo world's task; use --base demo, or give a CSV with text,"
                " label and group columns."
            )
        return demo_bios(cfg)
    if spec == BIAS_IN_BIOS:
        return table_task(_bias_in_bios(), spec, _bios_defaults(cfg))
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"No task {spec!r}: give demo:bios, {BIAS_IN_BIOS} or a CSV / jsonl / parquet file"
            " with text, label and group columns."
        )
    return table_task(_read_table(path), path.name, cfg)


def _read_table(path: Path) -> pd.DataFrame:
    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet}
    try:
        if path.suffix == ".jsonl":
            return pd.read_json(path, lines=True)
        if path.suffix in readers:
            return readers[path.suffix](path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise ConfigError(f"Could not read {path.name} as a table: {e}. Give a UTF-8 CSV.") from e
    raise ConfigError(f"{path.name}: give the task as .csv, .jsonl or .parquet.")


def _bios_defaults(cfg: TaskConfig) -> TaskConfig:
    """bias_in_bios' columns: hard_text, profession (21 professor, 13 nurse), gender."""
    from dataclasses import replace

    return replace(
        cfg,
        label_column="profession",
        group_column="gender",
        labels=cfg.labels or "21,13",
        cue_words=cfg.cue_words or "she,he,her,his,him,hers,mr,mrs,ms",
    )


def _bias_in_bios() -> pd.DataFrame:
    from ssae_core.infra.hub import hub_reachable, offline_mode

    if offline_mode() or not hub_reachable():
        raise ConfigError(
            f"Cannot reach the Hugging Face Hub to load {BIAS_IN_BIOS}. Offline, save the data"
            " set as a CSV (text, profession, gender columns) and give that file, or use"
            " demo:bios."
        )
    import datasets

    df = datasets.load_dataset("LabHC/bias_in_bios", split="train").to_pandas()
    return df.rename(columns={"hard_text": "text"})
