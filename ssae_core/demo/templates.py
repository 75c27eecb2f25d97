"""Sentence templates of the demo world, one list per text style.

Slots: ``{C}`` a concept mention, ``{A}`` a style adjective, ``{V}`` a style verb; in
biographies ``{P}`` / ``{PP}`` the subject's pronoun / possessive (the cue of the SHIFT
task) and ``{J}`` the domain's profession.
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

# Biography style: a short bio of someone working in a domain. The title sentence names the
# profession; the rest is life sentences (no domain words) and work sentences (the
# domain's concepts). As in Bias in Bios' "hard text", the SHIFT task's bios drop the title,
# so the profession shows only through the work sentences while the pronoun is everywhere.
BIO_TITLE = ["{P} is a {J} .", "{P} works as a {J} .", "{P} has been a {J} for ten years ."]
BIO_LIFE = [
    "{P} grew up in a small town by the sea .",
    "{P} lives with {PP} family near the city .",
    "{P} studied at the state university .",
    "{P} joined the institute in 2010 .",
    "{PP} hobbies include hiking and reading .",
    "in {PP} spare time {P} enjoys long walks .",
    "{P} has two children and a dog .",
    "{P} often gives talks to young students .",
    "{P} moved abroad after {PP} degree .",
    "{PP} parents were both teachers .",
]
BIO = [
    "{PP} work on the {C} is {A} .",
    "{P} is known for {PP} research on the {C} .",
    "{P} has worked to {V} the {C} for many years .",
    "{PP} recent work shows that the {C} can {V} the {C} .",
    "{P} wrote a {A} book about the {C} .",
    "{P} leads a team that studies the {C} and the {C} .",
]

STYLES = {"article": ARTICLE, "paper": PAPER, "qa": QA, "bio": BIO}
