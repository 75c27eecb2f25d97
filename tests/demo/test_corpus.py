import numpy as np
import pytest

from ssae_core.demo import corpus, lexicon
from ssae_core.demo import tokenizer as tk

SMALL = corpus.WorldConfig(
    n_general_docs=3000,
    n_general_test_docs=100,
    seed_tokens=3000,
    n_test_docs=50,
    n_ood_docs=50,
    n_pool_docs=2000,
)


@pytest.fixture(scope="module")
def world():
    return corpus.generate(SMALL)


def test_same_seed_same_world_other_seed_other_world(world):
    docs, labels = world
    docs2, labels2 = corpus.generate(SMALL)
    assert docs.equals(docs2) and np.array_equal(labels, labels2)
    docs3, _ = corpus.generate(SMALL.replace(seed=1))
    assert not docs3.text.equals(docs.text)


def test_concept_inventory():
    concepts = corpus.all_concepts()
    assert len(concepts) >= 200
    assert [c.id for c in concepts] == list(range(len(concepts)))
    for sub in lexicon.SUBDOMAINS:
        assert sum(c.domain == sub for c in concepts) >= 40
    assert len({c.key for c in concepts}) == len(concepts)


def test_labels_align_with_tokens(world):
    docs, labels = world
    tok = tk.train_tokenizer(docs.text)
    concepts = corpus.all_concepts()
    forms = {c.id: {w for f in c.forms for w in f.split()} for c in concepts}
    for row in docs.sample(200, random_state=0).itertuples():
        ids = tok.encode(row.text, add_special_tokens=False).ids
        assert len(ids) == row.n_words
        words = [tok.id_to_token(i) for i in ids]
        assert words == row.text.split()
        for word, concept in zip(words, labels[row.start : row.start + row.n_words]):
            if concept >= 0:
                assert word in forms[concept], (word, concepts[concept].key)


def test_split_sizes(world):
    docs, _ = world
    per_split = docs.groupby("split").n_words.sum()
    counts = docs.split.value_counts()
    assert counts["general"] == SMALL.n_general_docs
    for sub in lexicon.SUBDOMAINS:
        assert (
            SMALL.seed_tokens <= per_split[f"{sub}_seed"] < SMALL.seed_tokens + SMALL.max_doc_words
        )
        assert counts[f"{sub}_test"] == SMALL.n_test_docs
        assert set(docs[docs.split == f"{sub}_ood"]["style"]) == {"qa"}
        assert set(docs[docs.split == f"{sub}_seed"]["style"]) == {"paper"}
    assert docs.n_words.max() <= SMALL.max_doc_words


def test_subdomains_are_rare_in_the_general_corpus(world):
    docs, _ = world
    general = docs[docs.split == "general"]
    for sub in lexicon.SUBDOMAINS:
        share = (general.domain == sub).mean()
        assert 0 < share <= 0.015


def test_the_retrieval_pool_holds_more_of_each_subdomain_and_counts_its_concepts(world):
    """The pool is written like the general corpus but with ``pool_subdomain_share`` of each
    subdomain; its concept mentions and coverage equal a plain count of the labels."""
    docs, labels = world
    pool = docs[docs.split == "pool"]
    assert len(pool) == SMALL.n_pool_docs
    table = corpus.concept_table(docs, labels)
    coverage = corpus.pool_coverage(docs, table)
    for sub in lexicon.SUBDOMAINS:
        share = (pool.domain == sub).mean()
        assert abs(share - SMALL.pool_subdomain_share) < 4 * (0.16 * 0.84 / len(pool)) ** 0.5
        mine = pool[pool.domain == sub]
        assert coverage[sub]["documents"] == len(mine)
        assert coverage[sub]["words"] == mine.n_words.sum()
    spans = [labels[s : s + n] for s, n in zip(pool.start, pool.n_words)]
    flat = np.concatenate(spans)
    for row in table.sample(30, random_state=0).itertuples():
        assert row.pool_count == (flat == row.concept_id).sum()
    rare = table[(table.domain == "physics") & table.bucket.str.startswith(("tail", "rare"))]
    assert coverage["physics"]["tail_rare_concepts"] == len(rare)
    assert coverage["physics"]["fewest_mentions"] == rare.pool_count.min()


def test_frequencies_are_zipf_like(world):
    docs, labels = world
    table = corpus.concept_table(docs, labels)
    # Inside a domain, frequency falls with lexicon rank (Spearman strongly negative).
    # (Physics is counted on its own test split: the general corpus has few physics documents.)
    in_physics = corpus.concept_table(docs, labels, "physics_test")
    for domain, counted in [("cooking", table), ("physics", in_physics)]:
        counts = counted[counted.domain == domain]["count"].to_numpy()
        ranks = np.arange(len(counts))
        rho = np.corrcoef(ranks, np.argsort(np.argsort(-counts)))[0, 1]
        assert rho > 0.7, (domain, rho)
    # Head and tail both exist: a few frequent concepts, many rare ones.
    buckets = table.bucket.value_counts()
    assert buckets.get(corpus.BUCKETS[-1], 0) + buckets.get(corpus.BUCKETS[-2], 0) >= 40
    assert table.per_million.max() > 100 * np.median(table.per_million[table.per_million > 0]) / 10


def test_polysemous_words_follow_their_document(world):
    docs, labels = world
    concepts = {c.key: c.id for c in corpus.all_concepts()}
    seen = {}
    for row in docs.itertuples():
        for word, c in zip(row.text.split(), labels[row.start : row.start + row.n_words]):
            if word == "field" and c >= 0:
                seen.setdefault(row.domain, set()).add(int(c))
    assert seen["physics"] == {concepts["physics/field"]}
    assert seen["garden"] == {concepts["garden/field"]}


def test_a_concept_predicts_the_words_after_it(world):
    """Postpositive collocates: the word after a mention is usually one of the concept's own."""
    docs, labels = world
    writer = corpus._Writer(SMALL, corpus.all_concepts())
    hits = total = 0
    for row in docs[docs.split == "general"].itertuples():
        words = row.text.split()
        lab = labels[row.start : row.start + row.n_words]
        for i in range(len(words) - 1):
            if lab[i] >= 0 and lab[i + 1] < 0 and words[i + 1] in writer.vocab(row.domain)["adj"]:
                total += 1
                hits += words[i + 1] in writer.collocates(int(lab[i]))["adj"]
    assert total > 1000
    assert hits / total > 0.6  # by chance it would be 2 of 20 adjectives


def test_names_give_the_vocabulary_a_long_tail(world):
    """Each concept has its own made-up names, unlike any lexicon word, written right after a
    mention of it; so most word types are rare, as in real text."""
    docs, labels = world
    concepts = corpus.all_concepts()
    writer = corpus._Writer(SMALL, concepts)
    owner = {name: c.id for c in concepts for name in writer.names[c.id]}
    assert len(owner) == len(concepts) * SMALL.names_per_concept  # no name shared
    assert not owner.keys() & corpus._written_words(concepts)
    words = [w for text in docs.text for w in text.split()]
    types, counts = np.unique(words, return_counts=True)
    assert len(types) > 2000 and np.median(counts) < 10
    after, mentions = 0, 0
    for row in docs.sample(300, random_state=0).itertuples():
        ws, lab = row.text.split(), labels[row.start : row.start + row.n_words]
        for i, word in enumerate(ws):
            if word in owner:
                assert lab[i] == corpus.NO_CONCEPT
                assert lab[i - 1] == owner[word], (word, ws[i - 1])
                after += 1
        mentions += np.sum((lab[1:] < 0) & (lab[:-1] >= 0))
    assert 0.1 < after / mentions < 0.3  # name_prob = 0.2 of mentions
