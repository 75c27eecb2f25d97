"""A built demo world as the ``demo`` base's data: its artifacts, the corpus by split (documents,
token ids, concept labels), the LM and the GSAE, each read from the workspace when first used."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
import torch
from sae_lens import SAE

from ssae_core.demo import corpus
from ssae_core.demo import tokenizer as tk
from ssae_core.demo.config import DemoConfig
from ssae_core.demo.summary import WorldReport
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.workspace import Artifact
from ssae_core.models import model_io
from ssae_core.models.source import BaseData, TextSet
from ssae_core.train.gsae import SAE_SUBDIR

if TYPE_CHECKING:
    from ssae_core.models.base import Base

LM_SUBDIR = "model"


@dataclass
class DemoWorld(BaseData):
    """A built demo world: its artifacts and lazy accessors for what is in them; the texts and
    ground truth of the ``demo`` base (``models.source.BaseData``)."""

    name: ClassVar[str] = "demo"

    config: DemoConfig
    corpus_art: Artifact
    tokenizer_art: Artifact
    lm_art: Artifact
    gsae_art: Artifact
    report_art: Artifact | None  # None only while the report itself is being built
    device: torch.device

    @property
    def ref(self) -> str:
        return self.gsae_art.ref

    @property
    def hook_name(self) -> str:
        return self.config.hook_name

    @property
    def model_dir(self) -> Path:
        return self.lm_art.path / LM_SUBDIR

    @property
    def gsae_dir(self) -> Path:
        return self.gsae_art.path / SAE_SUBDIR

    @cached_property
    def corpus(self) -> CorpusView:
        return CorpusView(self.corpus_art, self.tokenizer_art)

    @property
    def docs(self) -> pd.DataFrame:
        return self.corpus.docs

    @cached_property
    def concepts(self) -> pd.DataFrame:
        return pd.read_parquet(self.corpus_art.file("concepts.parquet"))

    @cached_property
    def tokenizer(self):
        return tk.load_tokenizer(self.model_dir)

    @cached_property
    def model(self):
        return model_io.load_model(self.model_dir, self.tokenizer, self.device)

    @cached_property
    def gsae(self) -> SAE:
        return SAE.load_from_disk(self.gsae_dir, device=str(self.device))

    @property
    def report(self) -> WorldReport | None:
        """The world report (None only while it is being built)."""
        return WorldReport.from_dict(self.report_art.summary) if self.report_art else None

    @property
    def subdomains(self) -> list[str]:
        """The subdomains the world writes seed, test and OOD splits for (e.g. physics)."""
        return corpus.subdomains()

    @property
    def test_splits(self) -> list[str]:
        """Every test split: per subdomain in-domain and OOD, then the general one."""
        per_sub = [f"{sub}_{kind}" for sub in self.subdomains for kind in ("test", "ood")]
        return [*per_sub, "general_test"]

    @property
    def seed_splits(self) -> list[str]:
        """The seed set of each subdomain (``<subdomain>_seed``)."""
        return [f"{sub}_seed" for sub in self.subdomains]

    def split_tokens(self, split: str) -> list[np.ndarray]:
        return self.corpus.split_tokens(split)

    def split_labels(self, split: str) -> list[np.ndarray]:
        return self.corpus.split_labels(split)

    def split_ref(self, split: str) -> str:
        return f"{self.tokenizer_art.ref}:{split}"

    def text_set(self, split: str) -> TextSet:
        """A split's documents as a TextSet (doc ids are the world's)."""
        rows = self.corpus.split_docs(split)
        return TextSet(
            rows[["doc_id", "text"]].reset_index(drop=True),
            {"source": f"demo:{split}", "documents": len(rows)},
        )

    @property
    def corpus_split(self) -> str:
        """The retrieval pool when the world has one (world v4), else the general corpus."""
        return "pool" if self.config.world.n_pool_docs else "general"

    def in_domain(self, subdomain: str, split: str | None = None) -> pd.Series:
        """Ground truth for selection precision: doc_id -> document belongs to ``subdomain``."""
        rows = self.corpus.split_docs(split or self.corpus_split)
        return pd.Series((rows.domain == subdomain).to_numpy(), index=rows.doc_id.to_numpy())


class CorpusView:
    """The corpus's documents with their token ids and concept labels, by split."""

    def __init__(self, corpus_art: Artifact, tokenizer_art: Artifact):
        self.docs = pd.read_parquet(corpus_art.file("docs.parquet"))
        self.labels = np.load(corpus_art.file("labels.npy"))
        self.tokens = np.load(tokenizer_art.file("tokens.npy"))

    def split_docs(self, split: str) -> pd.DataFrame:
        rows = self.docs[self.docs.split == split]
        if rows.empty:
            raise ConfigError(
                f"The demo world has no split {split!r}; it has {sorted(self.docs.split.unique())}."
            )
        return rows

    def split_tokens(self, split: str) -> list[np.ndarray]:
        """Token ids per document of a split (no BOS)."""
        rows = self.split_docs(split)
        return [self.tokens[s : s + n] for s, n in zip(rows.start, rows.n_words)]

    def split_labels(self, split: str) -> list[np.ndarray]:
        """Concept ids per token per document of a split (-1: no concept)."""
        rows = self.split_docs(split)
        return [self.labels[s : s + n] for s, n in zip(rows.start, rows.n_words)]


def world_of(base: Base) -> DemoWorld | None:
    """The demo world a base ships, else None (pages and commands that offer demo-only steps)."""
    return base.data if isinstance(base.data, DemoWorld) else None
