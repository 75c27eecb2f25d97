"""The examples a feature is explained and scored on, from its evaluation on a split.

Each example is a token window around one document's peak (or, for negatives, a window
where the feature never fires), with the feature's activation on every token. For the
explanation: the top 10 documents. Held out for the predictor: one document drawn from
each quintile of the remaining top-activating documents, plus 5 windows where the
feature is silent; all drawn with a seeded generator.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from ssae_core.models.activations import collect, pad_id, word_level
from ssae_core.models.sae_math import encode_rows

if TYPE_CHECKING:
    from ssae_core.models.base import Base


@dataclass(frozen=True)
class Example:
    tokens: tuple[str, ...]
    acts: tuple[float, ...]
    doc: int
    start: int

    @property
    def active(self) -> bool:
        return max(self.acts, default=0.0) > 0


@dataclass(frozen=True)
class FeatureExamples:
    feature: int
    explain: tuple[Example, ...]
    held_out: tuple[Example, ...]  # shuffled; truth is ``Example.active``
    lens_tokens: tuple[str, ...]

    def digest(self) -> str:
        """A hash of everything shown to the backends (part of a result's cache key)."""
        payload = [
            [list(e.tokens), [round(a, 4) for a in e.acts]] for e in self.explain + self.held_out
        ] + [list(self.lens_tokens)]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def marked(example: Example) -> str:
    """The window's text with each run of consecutive active tokens wrapped in << >>."""
    acts, pieces = example.acts, []
    for i, tok in enumerate(example.tokens):
        on = acts[i] > 0
        opens = on and (i == 0 or acts[i - 1] <= 0)
        closes = on and (i == len(acts) - 1 or acts[i + 1] <= 0)
        core = tok.lstrip()
        pieces.append(
            tok[: len(tok) - len(core)] + ("<<" if opens else "") + core + (">>" if closes else "")
        )
    return _join(pieces)


def plain(example: Example) -> str:
    return _join(list(example.tokens))


def _join(pieces: list[str]) -> str:
    """Word-level tokens join with spaces; BPE pieces carry their own leading spaces."""
    return (" ".join(pieces) if word_level(pieces) else "".join(pieces)).strip()


def words(tokens: tuple[str, ...], acts: tuple[float, ...]) -> list[tuple[str, float]]:
    """The window as (lower-cased word, its largest activation over its tokens). Word-level tokens
    are words; sub-word pieces join into one while they continue a word: no leading space, and
    letters or digits on both sides of the join (" bos" + "ons" is "bosons"; "ons" + "." is two)."""
    out: list[tuple[str, float]] = []
    joins = not word_level(list(tokens))
    for tok, act in zip(tokens, acts):
        piece = tok.strip().lower()
        if not piece:
            continue
        if joins and out and tok[:1].isalnum() and out[-1][0][-1:].isalnum():
            out[-1] = (out[-1][0] + piece, max(out[-1][1], act))
        else:
            out.append((piece, act))
    return out


def one_per_slice(items: list, n: int, rng: np.random.Generator) -> list:
    """One item drawn from each of ``n`` equal consecutive slices of ``items`` (fewer when there
    are fewer items): a sample spread over a ranking."""
    slices = [s for s in np.array_split(np.arange(len(items)), n) if len(s)]
    return [items[int(rng.choice(s))] for s in slices]


class Windows(NamedTuple):
    """One feature's drawn windows (``draw_windows``)."""

    top: tuple[Example, ...]
    """Its ``n_top`` top documents' windows, in rank order."""
    spread: tuple[Example, ...]
    """One window from each of ``n_spread`` equal slices of its top documents after ``skip``."""
    silent: tuple[Example, ...]
    """Up to ``n_silent`` windows where it fires nowhere, from random documents."""


def draw_windows(
    base: Base,
    sae,
    docs: list[np.ndarray],
    features_table,
    features: list[int],
    rng: np.random.Generator,
    n_top: int,
    skip: int,
    n_spread: int,
    n_silent: int,
    before: int = 24,
    after: int = 8,
) -> dict[int, Windows]:
    """Each feature's windows, from one LM pass over the documents they need: the sampling behind
    the explanation / held-out examples (``build_examples``) and the scorers' samples
    (``scorers.scoring_sets``). Per feature, in order: the spread draw, then ``8 * n_silent``
    candidate documents; silent windows are centred on a random position of a candidate whose
    whole window is silent (the candidates in order, until ``n_silent``)."""
    plans = {}
    for j in features:
        row = features_table.loc[j]
        tops = list(zip(row.top_doc, row.top_pos))
        spread = one_per_slice(tops[skip:], n_spread, rng)
        candidates = rng.choice(len(docs), size=min(len(docs), 8 * n_silent), replace=False)
        plans[j] = (tops[:n_top], spread, [int(d) for d in candidates])
    needed = sorted(
        {
            int(d)
            for top, spread, cands in plans.values()
            for d in (*[d for d, _ in top + spread], *cands)
        }
    )
    acts = feature_acts(base, sae, docs, needed, features)
    text = token_texts(base.tokenizer)
    out = {}
    for i, (j, (top, spread, candidates)) in enumerate(plans.items()):

        def window(d, p, i=i):
            return window_at(docs[d], acts[d][:, i], d, p, before, after, text)

        silent = []
        for d in candidates:
            quiet = silent_centres(acts[d][:, i], before, after)
            if len(silent) < n_silent and len(quiet):
                silent.append(window(d, int(rng.choice(quiet))))
        out[j] = Windows(
            tuple(window(d, p) for d, p in top),
            tuple(window(d, p) for d, p in spread),
            tuple(silent),
        )
    return out


def silent_centres(column: np.ndarray, before: int, after: int) -> np.ndarray:
    """Positions p whose window [p - before, p + after] holds no activation (the window cut at
    the document's ends, as ``window_at`` cuts it)."""
    fired = np.concatenate([[0], np.cumsum(column > 0)])
    p = np.arange(len(column))
    lo, hi = np.maximum(0, p - before), np.minimum(len(column), p + after + 1)
    return p[fired[hi] == fired[lo]]


def build_examples(
    base: Base,
    sae,
    docs: list[np.ndarray],
    features_table,
    features: list[int],
    seed: int = 0,
    n_explain: int = 10,
    n_quintile: int = 5,
    n_negative: int = 5,
    before: int = 24,
    after: int = 8,
) -> list[FeatureExamples]:
    """Examples for ``features`` from a ``features.parquet`` table of the split ``docs`` (one LM
    pass over the documents needed): the top ``n_explain`` windows to explain, and held out, one
    window per quintile of the rest and ``n_negative`` fully silent windows, shuffled."""
    rng = np.random.default_rng(seed)
    drawn = draw_windows(
        base, sae, docs, features_table, features, rng, n_explain, n_explain, n_quintile,
        n_negative, before, after,
    )  # fmt: skip
    text = token_texts(base.tokenizer)
    out = []
    for j, w in drawn.items():
        held_out = w.spread + w.silent
        order = rng.permutation(len(held_out))
        lens = tuple(text(int(t)) for t in features_table.loc[j].lens_top)
        out.append(FeatureExamples(j, w.top, tuple(held_out[i] for i in order), lens))
    return out


def top_windows(
    base: Base,
    sae,
    docs: list[np.ndarray],
    features_table,
    j: int,
    n: int = 10,
    before: int = 24,
    after: int = 8,
) -> tuple[Example, ...]:
    """Feature ``j``'s ``n`` top activating windows, as ``build_examples`` explains them (one LM
    pass over their documents only)."""
    return top_windows_of(base, sae, docs, features_table, [j], n, before, after)[0]


def top_windows_of(
    base: Base,
    sae,
    docs: list[np.ndarray],
    features_table,
    features: list[int],
    n: int = 10,
    before: int = 24,
    after: int = 8,
) -> list[tuple[Example, ...]]:
    """``top_windows`` of several features, with one LM pass over all their top documents."""
    tops = [list(zip(features_table.loc[j].top_doc, features_table.loc[j].top_pos))[:n]
            for j in features]  # fmt: skip
    needed = sorted({int(d) for t in tops for d, _ in t})
    acts = feature_acts(base, sae, docs, needed, features)
    token_text = token_texts(base.tokenizer)
    return [
        tuple(window_at(docs[d], acts[d][:, i], d, p, before, after, token_text) for d, p in t)
        for i, t in enumerate(tops)
    ]


@torch.no_grad()
def feature_acts(
    base: Base, sae, docs, needed: list[int], features: list[int]
) -> dict[int, np.ndarray]:
    """Document id -> (tokens, features) activations of ``features`` on documents ``needed``
    (one LM pass over those documents only)."""
    tok = base.tokenizer
    x, doc, _ = collect(
        base.model, base.hook_name, [docs[d] for d in needed], tok.bos_token_id, pad_id(tok)
    )
    f = encode_rows(sae, x, features).numpy()
    return {d: f[doc == i] for i, d in enumerate(needed)}


def window_at(doc_tokens, column, d: int, pos: int, before: int, after: int, token_text) -> Example:
    lo, hi = max(0, pos - before), min(len(column), pos + after + 1)
    return Example(
        tuple(token_text(int(t)) for t in doc_tokens[lo:hi]),
        tuple(float(a) for a in column[lo:hi]),
        d,
        lo,
    )


def token_texts(tokenizer):
    """Token id -> its text as it appears in context (BPE pieces keep their leading space)."""
    cache = {}

    def text(i: int) -> str:
        if i not in cache:
            cache[i] = tokenizer.decode([i])
        return cache[i]

    return text
