"""Procedural corpus of the demo world, with token-level concept labels.

A document has one domain (a general topic or a subdomain) and one style. It picks a
few focus concepts (Zipf by rank inside its domain) and writes sentences from the
style's templates, filling concept slots mostly with its focus concepts. So concept
frequencies are Zipf-like inside each domain, subdomains are rare in the general
corpus, and a word's concept depends on the document it is in. A mention is sometimes
followed by one of the concept's made-up names (Zipf over a dozen per concept), which
gives the vocabulary a long tail of rare words, as real text's names and terms do.
A small share of the general corpus is biographies (any domain, "she" or "he" at even
odds), so the LM has seen the text of SHIFT's task (``bios``).

The ``pool`` split is the text retrieval searches: written like the general corpus but never
seen by the LM or the GSAE, and with a larger subdomain share, as the web is to a GSAE's training
sample (the SSAE paper retrieves 13.9M tokens). It holds enough of each subdomain (about 300K
tokens in the full world) for every tail and rare concept to appear many times
(``pool_coverage``).
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ssae_core.demo import lexicon, templates
from ssae_core.evaluate.concepts import BUCKETS
from ssae_core.infra.config import Config

NO_CONCEPT = -1


@dataclass(frozen=True)
class WorldConfig(Config):
    """Everything that decides the demo world's text. Deterministic from ``seed``."""

    seed: int = 0
    n_general_docs: int = 24000
    n_general_test_docs: int = 1000
    subdomain_share: float = 0.008  # per subdomain, of general-corpus documents
    qa_share: float = 0.05  # general documents written in the Q&A style
    crossover_prob: float = 0.05  # general documents with one sentence from a subdomain
    seed_tokens: int = 8000  # per subdomain, as the paper's 9.2K-token seed set
    n_test_docs: int = 300  # per subdomain, in-domain test split
    n_ood_docs: int = 300  # per subdomain, out-of-distribution (Q&A) test split
    concept_zipf: float = 1.1
    topic_zipf: float = 0.6
    focus_prob: float = 0.7  # a concept slot takes one of the document's focus concepts
    collocate_prob: float = 0.9  # a style word is one of the last concept's collocates
    postpositive_prob: float = 0.5  # a concept mention is followed by one of its adjectives
    names_per_concept: int = 12  # made-up rare words tied to each concept (the long tail)
    name_prob: float = 0.2  # a concept mention is followed by one of its names
    name_zipf: float = 1.1  # Zipf exponent over a concept's names
    bio_share: float = 0.03  # general documents that are a biography (of any domain)
    bio_work_prob: float = 0.3  # a biography sentence is about the domain's concepts
    max_doc_words: int = 127  # so that BOS + document fits a 128-token context
    n_pool_docs: int = 20000  # the retrieval pool (split "pool"); the LM and GSAE never see it
    pool_subdomain_share: float = 0.16  # per subdomain, of pool documents (~300K tokens each)
    version: int = 4  # bump when the code that builds this artifact changes its output
    """2: concept names, a vocabulary with a long tail. 3: biographies. 4: the retrieval pool."""


@dataclass(frozen=True)
class Concept:
    id: int
    domain: str
    name: str
    forms: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.domain}/{self.name}"


def all_concepts() -> list[Concept]:
    """Every concept of the world, general topics first, ids dense from 0."""
    blocks = {**lexicon.GENERAL, **lexicon.SUBDOMAINS}
    counter = itertools.count()
    return [
        Concept(next(counter), domain, name, tuple(forms))
        for domain, block in blocks.items()
        for name, forms in lexicon.parse_block(block)
    ]


def subdomains() -> list[str]:
    return list(lexicon.SUBDOMAINS)


def _zipf_cum(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (r + 1) ** s for r in range(n)))


class _Writer:
    """Writes documents; holds the lookup tables so each word costs a few list ops."""

    def __init__(self, cfg: WorldConfig, concepts: list[Concept]):
        self.cfg = cfg
        self.concepts = concepts
        self.by_domain: dict[str, list[int]] = {}
        for c in concepts:
            self.by_domain.setdefault(c.domain, []).append(c.id)
        self.cum = {d: _zipf_cum(len(ids), cfg.concept_zipf) for d, ids in self.by_domain.items()}
        self.style_words = {
            d: {k: lexicon.word_list(v) for k, v in words.items()}
            for d, words in lexicon.STYLE.items()
        }
        self._collocates: dict[int, dict[str, list[str]]] = {}
        taken = _written_words(concepts)
        self.names = [lexicon.names(c.key, cfg.names_per_concept, taken) for c in concepts]
        self.name_cum = _zipf_cum(cfg.names_per_concept, cfg.name_zipf)

    def draw_concept(self, rng: random.Random, domain: str) -> int:
        cum = self.cum[domain]
        return self.by_domain[domain][bisect.bisect(cum, rng.random() * cum[-1])]

    def collocates(self, cid: int) -> dict[str, list[str]]:
        """The concept's own style words: 2 adjectives and 2 verbs it is usually seen with."""
        if cid not in self._collocates:
            c = self.concepts[cid]
            vocab = self.vocab(c.domain)
            rng = random.Random(f"collocates-{c.key}")
            self._collocates[cid] = {kind: rng.sample(words, 2) for kind, words in vocab.items()}
        return self._collocates[cid]

    def vocab(self, domain: str) -> dict[str, list[str]]:
        return self.style_words["general" if domain in lexicon.GENERAL else domain]

    def sentence(self, rng, template, domain, focus, state, words, labels):
        """Append one sentence. ``state["last"]`` is the last concept mentioned: style
        words mostly come from its collocates, so predicting them needs the concept;
        ``state["cue"]`` is a biography's pronoun cue."""
        vocab = self.vocab(domain)
        for slot in template.split():
            if slot == "{C}":
                cid = (
                    rng.choice(focus)
                    if rng.random() < self.cfg.focus_prob
                    else self.draw_concept(rng, domain)
                )
                form = rng.choice(self.concepts[cid].forms).split()
                words.extend(form)
                labels.extend([cid] * len(form))
                state["last"] = cid
                if rng.random() < self.cfg.name_prob:  # "the entropy karuvi ..."
                    cum = self.name_cum
                    words.append(self.names[cid][bisect.bisect(cum, rng.random() * cum[-1])])
                    labels.append(NO_CONCEPT)
                if rng.random() < self.cfg.postpositive_prob:  # "the entropy thermal ..."
                    words.append(rng.choice(self.collocates(cid)["adj"]))
                    labels.append(NO_CONCEPT)
                continue
            if slot in ("{A}", "{V}"):
                kind = "adj" if slot == "{A}" else "verb"
                last = state.get("last")
                tied = (
                    last is not None
                    and self.concepts[last].domain == domain
                    and rng.random() < self.cfg.collocate_prob
                )
                slot = rng.choice(self.collocates(last)[kind] if tied else vocab[kind])
            elif slot in ("{P}", "{PP}"):
                slot = lexicon.PRONOUNS[state["cue"]][slot == "{PP}"]
            elif slot == "{J}":
                slot = lexicon.PROFESSIONS[domain]
            words.append(slot)
            labels.append(NO_CONCEPT)

    def document(self, rng: random.Random, domain: str, style: str, crossover: str | None = None):
        """One document as (words, labels); ``crossover`` adds one sentence of that subdomain."""
        focus = sorted({self.draw_concept(rng, domain) for _ in range(rng.randint(2, 4))})
        words: list[str] = []
        labels: list[int] = []
        state: dict = {}
        n_sentences = rng.randint(6, 14)
        cross_at = rng.randrange(n_sentences) if crossover else -1
        for i in range(n_sentences):
            w: list[str] = []
            lab: list[int] = []
            template = rng.choice(templates.STYLES[style])
            if i == cross_at:
                self.sentence(
                    rng, template, crossover, [self.draw_concept(rng, crossover)], state, w, lab
                )
            else:
                self.sentence(rng, template, domain, focus, state, w, lab)
            if not self._append(words, labels, w, lab):
                break
        return words, labels

    def bio(self, rng: random.Random, domain: str, cue: str, title: bool = True):
        """A biography of someone in ``domain`` with pronoun ``cue`` ("she" / "he"), as
        (words, labels): the title sentence (unless ``title`` is False), then life sentences
        and, with ``bio_work_prob`` each, sentences about the domain's concepts."""
        focus = sorted({self.draw_concept(rng, domain) for _ in range(rng.randint(2, 4))})
        words: list[str] = []
        labels: list[int] = []
        state: dict = {"cue": cue}
        first = [rng.choice(templates.BIO_TITLE)] if title else []
        for template in first + [None] * rng.randint(5, 9):
            if template is None:
                work = rng.random() < self.cfg.bio_work_prob
                template = rng.choice(templates.BIO if work else templates.BIO_LIFE)
            w: list[str] = []
            lab: list[int] = []
            self.sentence(rng, template, domain, focus, state, w, lab)
            if not self._append(words, labels, w, lab):
                break
        return words, labels

    def _append(self, words, labels, w, lab) -> bool:
        """Add a sentence unless it would pass ``max_doc_words``; whether it was added."""
        if len(words) + len(w) > self.cfg.max_doc_words:
            return False
        words += w
        labels += lab
        return True


def _written_words(concepts: list[Concept]) -> set[str]:
    """Every word the lexicon and the templates write (names must differ from all of them)."""
    words = {w for c in concepts for form in c.forms for w in form.split()}
    words |= {
        w for style in lexicon.STYLE.values() for t in style.values() for w in lexicon.word_list(t)
    }
    bios = templates.BIO_TITLE + templates.BIO_LIFE
    words |= {w for ts in [*templates.STYLES.values(), bios] for t in ts for w in t.split()}
    words |= set(lexicon.PROFESSIONS.values()) | {w for p in lexicon.PRONOUNS.values() for w in p}
    return words


def _split_rng(cfg: WorldConfig, split: str) -> random.Random:
    return random.Random(f"ssae-demo-{cfg.seed}-{split}")


def _general_docs(writer: _Writer, rng: random.Random, n: int, subdomain_share: float):
    cfg = writer.cfg
    topics = list(lexicon.GENERAL)
    topic_cum = _zipf_cum(len(topics), cfg.topic_zipf)
    subs = subdomains()
    domains = [*topics, *subs]
    for _ in range(n):
        if rng.random() < cfg.bio_share:
            domain = rng.choice(domains)
            yield domain, "bio", writer.bio(rng, domain, rng.choice(list(lexicon.PRONOUNS)))
            continue
        u = rng.random()
        if u < subdomain_share * len(subs):
            domain, style, cross = subs[int(u / subdomain_share)], "paper", None
        else:
            domain = topics[bisect.bisect(topic_cum, rng.random() * topic_cum[-1])]
            style = "qa" if rng.random() < cfg.qa_share else "article"
            cross = rng.choice(subs) if rng.random() < cfg.crossover_prob else None
        yield domain, style, writer.document(rng, domain, style, cross)


def _subdomain_docs(
    writer: _Writer, rng, domain: str, style: str, n_docs: int = 0, n_words: int = 0
):
    total = count = 0
    while (n_docs and count < n_docs) or (n_words and total < n_words):
        words, labels = writer.document(rng, domain, style)
        total += len(words)
        count += 1
        yield domain, style, (words, labels)


def bios(cfg: WorldConfig, domain: str, cue: str, n: int, tag: str) -> list[str]:
    """``n`` title-less biographies of ``domain`` with pronoun ``cue``, deterministic from the
    world's seed and ``tag`` (SHIFT's task: the profession shows only through the work)."""
    writer = _Writer(cfg, all_concepts())
    rng = _split_rng(cfg, f"bios-{tag}-{domain}-{cue}")
    return [" ".join(writer.bio(rng, domain, cue, title=False)[0]) for _ in range(n)]


def generate(cfg: WorldConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """The whole world's text: a document table and the flat concept-label array.

    The table has one row per document (doc_id, split, domain, style, text, start,
    n_words); ``labels[start:start + n_words]`` are the concept ids of its words.
    """
    writer = _Writer(cfg, all_concepts())
    share = cfg.subdomain_share
    sources = {
        "general": _general_docs(writer, _split_rng(cfg, "general"), cfg.n_general_docs, share),
        "general_test": _general_docs(
            writer, _split_rng(cfg, "general_test"), cfg.n_general_test_docs, share
        ),
    }
    for sub in subdomains():
        sources[f"{sub}_seed"] = _subdomain_docs(
            writer, _split_rng(cfg, f"{sub}_seed"), sub, "paper", n_words=cfg.seed_tokens
        )
        sources[f"{sub}_test"] = _subdomain_docs(
            writer, _split_rng(cfg, f"{sub}_test"), sub, "paper", n_docs=cfg.n_test_docs
        )
        sources[f"{sub}_ood"] = _subdomain_docs(
            writer, _split_rng(cfg, f"{sub}_ood"), sub, "qa", n_docs=cfg.n_ood_docs
        )
    sources["pool"] = _general_docs(
        writer, _split_rng(cfg, "pool"), cfg.n_pool_docs, cfg.pool_subdomain_share
    )
    rows, label_chunks, start = [], [], 0
    for split, docs in sources.items():
        for domain, style, (words, labels) in docs:
            rows.append((len(rows), split, domain, style, " ".join(words), start, len(words)))
            label_chunks.append(np.asarray(labels, dtype=np.int16))
            start += len(words)
    table = pd.DataFrame(
        rows, columns=["doc_id", "split", "domain", "style", "text", "start", "n_words"]
    )
    return table, np.concatenate(label_chunks)


def _split_labels(docs: pd.DataFrame, labels: np.ndarray, split: str) -> np.ndarray:
    rows = docs[docs.split == split]
    if rows.empty:
        return np.zeros(0, labels.dtype)
    return labels[np.concatenate([np.arange(s, s + n) for s, n in zip(rows.start, rows.n_words)])]


def _mentions(lab: np.ndarray, n_concepts: int) -> np.ndarray:
    return np.bincount(lab[lab >= 0], minlength=n_concepts)


def concept_table(docs: pd.DataFrame, labels: np.ndarray, split: str = "general") -> pd.DataFrame:
    """Concepts with their mention frequency in ``split`` (per million words) and bucket, and
    their mentions in the retrieval pool (``pool_count``)."""
    concepts = all_concepts()
    lab = _split_labels(docs, labels, split)
    counts = _mentions(lab, len(concepts))
    per_million = counts / max(len(lab), 1) * 1e6
    return pd.DataFrame(
        {
            "concept_id": [c.id for c in concepts],
            "key": [c.key for c in concepts],
            "domain": [c.domain for c in concepts],
            "subdomain": [c.domain in lexicon.SUBDOMAINS for c in concepts],
            "count": counts,
            "per_million": per_million,
            "bucket": [frequency_bucket(p) for p in per_million],
            "pool_count": _mentions(_split_labels(docs, labels, "pool"), len(concepts)),
        }
    )


def pool_coverage(docs: pd.DataFrame, concepts: pd.DataFrame) -> dict[str, dict]:
    """Per subdomain: the pool's documents and words of that subdomain, and the fewest pool
    mentions of any of its tail or rare concepts (what a selection from the pool can find)."""
    pool = docs[docs.split == "pool"]
    out = {}
    for sub in subdomains():
        mine = pool[pool.domain == sub]
        rare = concepts[(concepts.domain == sub) & concepts.bucket.isin(BUCKETS[-2:])]
        out[sub] = {
            "documents": int(len(mine)),
            "words": int(mine.n_words.sum()),
            "tail_rare_concepts": int(len(rare)),
            "fewest_mentions": int(rare.pool_count.min()) if len(rare) else 0,
        }
    return out


def frequency_bucket(per_million: float) -> str:
    """Log-spaced bucket of a concept's frequency in mentions per million words."""
    for edge, name in zip([1e4, 1e3, 1e2, 1e1], BUCKETS):
        if per_million >= edge:
            return name
    return BUCKETS[-1]
