"""What a base may ship beside its LM and GSAE: named text sets and labelled token splits.

The demo world is one such source (``ssae_core.demo`` registers it with
``models.base.register_source``); a base loaded from a release or local directories ships
none (``Base.data`` is None). The stages below ``demo`` see only this interface, so they never
import the world that implements it.

A source's text sets are named ``<name>`` (its general corpus) and ``<name>:<subdomain>`` (a
subdomain's seeds). Its token splits (``<subdomain>_test``, ``<subdomain>_ood``,
``general_test``, ...) come with per-token concept ids (-1: none) and a ``concepts`` table
(``concept_id``, ``key``, ``domain``, ``bucket``, ``subdomain``) for ground-truth recall.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class TextSet:
    """Validated documents: ``docs`` has columns doc_id and text; ``report`` says what was done."""

    docs: pd.DataFrame
    report: dict = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return self.docs.text.tolist()


class BaseData(ABC):
    """Text and ground truth a base ships; the names below are the ones pages and commands
    accept (``demo:physics``, ``physics_test``)."""

    name: str
    """The prefix of its text-set names (``demo``)."""

    @property
    @abstractmethod
    def ref(self) -> str:
        """The artifact ref that names the base among the inputs of what is computed with it."""

    @property
    @abstractmethod
    def subdomains(self) -> list[str]:
        """The subdomains it has seeds, test and OOD splits for."""

    @property
    @abstractmethod
    def test_splits(self) -> list[str]:
        """Every labelled test split, in-domain ones first."""

    @abstractmethod
    def text_set(self, split: str) -> TextSet:
        """A split's documents (``general`` is the corpus, ``<sub>_seed`` a seed set)."""

    @abstractmethod
    def split_tokens(self, split: str) -> list[np.ndarray]:
        """Token ids per document of a split (no BOS)."""

    @abstractmethod
    def split_labels(self, split: str) -> list[np.ndarray]:
        """Concept ids per token per document of a split (-1: no concept)."""

    @abstractmethod
    def split_ref(self, split: str) -> str:
        """The ref of a token split: a split with this ref holds that split's documents."""

    @property
    @abstractmethod
    def concepts(self) -> pd.DataFrame:
        """The ground-truth concepts the labels index."""

    @abstractmethod
    def in_domain(self, subdomain: str, split: str | None = None) -> pd.Series:
        """Ground truth for selection precision: doc_id -> the document of ``split`` (default
        ``corpus_split``) belongs to ``subdomain``."""

    @property
    def corpus_split(self) -> str:
        """The split retrieval searches, the text set ``<name>`` names: the general corpus unless
        the source has a larger retrieval pool."""
        return "general"

    def named_text_set(self, spec: str) -> TextSet | None:
        """``<name>`` (the corpus retrieval searches) or ``<name>:<sub>`` (that subdomain's seeds);
        None for any other name."""
        if spec == self.name:
            return self.text_set(self.corpus_split)
        prefix = f"{self.name}:"
        return self.text_set(f"{spec[len(prefix) :]}_seed") if spec.startswith(prefix) else None

    def text_names(self) -> tuple[list[str], list[str]]:
        """The seed and corpus names ``named_text_set`` accepts."""
        return [f"{self.name}:{sub}" for sub in self.subdomains], [self.name]

    def concept_splits(self) -> dict[str, list[str]]:
        """Where each concept is scored: general-topic concepts on ``general_test``, each
        subdomain's on its in-domain test split (split -> the concept domains it scores)."""
        concepts = self.concepts
        general = sorted(concepts.loc[~concepts.subdomain, "domain"].unique())
        return {"general_test": general, **{f"{sub}_test": [sub] for sub in self.subdomains}}
