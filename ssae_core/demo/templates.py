"""Sentence templates of the demo world, one list per text style.

Slots: ``{C}`` a concept mention, ``{A}`` a style adjective, ``{V}`` a style verb.
A style word is usually one of the last concept's collocates, and many templates put
it right after a concept, so (as in real text) a concept predicts the words that follow
it. Every other word is plain text. Words and punctuation are separated by single spaces,
so the word-level tokenizer maps each written word to exactly one token.
"""

# Blog / news style: the bulk of the general corpus.
ARTICLE = [
    "the {C} was {A} today .",
    "i {V} the {C} and the {C} .",
    "my {C} is {A} but the {C} is {A} .",
    "you can {V} a {A} {C} near the {C} .",
    "everyone will {V} the {C} .",
    "there is a {A} {C} at the {C} .",
    "we {V} {C} and {C} this week .",
    "a {A} {C} is what people {V} .",
    "they said the {C} would {V} the {C} .",
    "last year the {C} was not {A} .",
    "the {C} can {V} well .",
    "this {C} looks {A} .",
    "our {C} will {V} soon .",
    "the {C} {V} the {C} .",
    "my {C} {A} again .",
    "that {C} {V} everyone .",
]

# Academic style: subdomain documents (as arXiv-like text inside a web corpus).
PAPER = [
    "in this work we {V} the {C} of the {C} .",
    "the {C} is {A} when the {C} is {A} .",
    "we {V} a {A} {C} using the {C} .",
    "our results show that the {C} can {V} the {C} .",
    "this {A} {C} depends on the {C} .",
    "figure 2 shows the {C} as a function of {C} .",
    "previous studies {V} the {C} but not the {C} .",
    "the {A} {C} is consistent with the {C} .",
    "to {V} the {C} , we consider a {A} {C} .",
    "table 1 lists the {C} for each {C} .",
    "the {C} is {A} .",
    "each {C} can {V} the {C} .",
    "the {C} remains {A} at high {C} .",
    "the {C} {V} the {C} .",
    "we find the {C} {A} .",
    "a {C} {A} enough to {V} the {C} .",
]

# Instruction / question-answer style: a small share of the general corpus, and the
# out-of-distribution test style for subdomains.
QA = [
    "question : what is a {A} {C} ? answer : a {C} is related to the {C} .",
    "question : how do we {V} the {C} ? answer : you {V} the {C} with a {C} .",
    "instruction : explain the {C} briefly . response : the {C} is {A} and it can {V} the {C} .",
    "question : why is the {C} {A} ? answer : because the {C} is {A} .",
    "instruction : compare the {C} and the {C} . response : the {C} is more {A} .",
    "question : can a {C} {V} a {C} ? answer : yes , a {A} {C} can .",
    "question : is the {C} {A} ? answer : yes , the {C} is {A} .",
    "question : what does the {C} do ? answer : the {C} {V} the {C} .",
]

STYLES = {"article": ARTICLE, "paper": PAPER, "qa": QA}
