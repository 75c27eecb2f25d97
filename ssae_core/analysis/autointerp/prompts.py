"""The interpreter and predictor prompts (written for this project) and the parsers of their
answers.

``PROMPT_VERSION`` is part of every stored result's key: change it whenever a prompt or
a parser changes what a result means.
"""

from __future__ import annotations

import json
import re

PROMPT_VERSION = "2026-11-21.1"

INTERPRETER_SYSTEM = """You are a careful interpretability researcher. You study one feature \
of a sparse autoencoder trained on the internal activations of a language model.

You will read short text excerpts on which this feature is active. In each excerpt, the tokens \
where the feature fires are wrapped in << and >> (a run of consecutive active tokens shares one \
pair of markers). Excerpts come strongest activation first. You may also get the output tokens \
the feature's direction promotes most.

Work out what the feature responds to: the marked tokens themselves, the words just before them, \
the topic of the text, or a grammatical role. Prefer a specific description that would let \
someone predict, from an unmarked excerpt, whether the feature fires in it. Reason briefly.

Your last line must have exactly this form, with nothing after it:
EXPLANATION: <what the feature responds to, in at most 25 words>"""

PREDICTOR_SYSTEM = """You are a careful interpretability researcher. You are given a \
description of what one feature of a sparse autoencoder responds to, and a numbered list of text \
excerpts without any markings. For each excerpt, decide from the description alone whether the \
feature would be active on at least one of its tokens.

Answer with a single line holding a JSON list of 0s and 1s, one per excerpt, in order \
(1: the feature fires somewhere in the excerpt, 0: it does not), for example [0, 1, 1, 0]. \
Write nothing after the list."""

FUZZ_SYSTEM = """You are a careful interpretability researcher. You are given a description of \
what one feature of a sparse autoencoder responds to, and a numbered list of text excerpts in \
which some tokens are wrapped in << and >>. In some excerpts the marked tokens are exactly where \
the feature fires; in others they were marked at random.

For each excerpt, decide from the description whether the marked tokens are ones the feature \
would fire on (1) or not (0).

Answer with a single line holding a JSON list of 0s and 1s, one per excerpt, in order, for \
example [1, 0, 0, 1]. Write nothing after the list."""

EXPLAIN_REMINDER = (
    "Your reply did not end with a line of the form 'EXPLANATION: ...'. Reply again, ending with"
    " that line."
)
PREDICT_REMINDER = (
    "Your reply did not end with a JSON list of {n} values, each 0 or 1. Reply again with only that"
    " list."
)


def interpreter_message(excerpts: list[str], lens_tokens: list[str]) -> str:
    lines = ["Excerpts where the feature is active (strongest first):", ""]
    lines += [f"{i}. {text}" for i, text in enumerate(excerpts, 1)]
    if lens_tokens:
        lines += [
            "",
            "Output tokens the feature's direction promotes most: "
            + ", ".join(repr(t) for t in lens_tokens),
        ]
    return "\n".join(lines)


def predictor_message(explanation: str, excerpts: list[str]) -> str:
    lines = [f"Feature description: {explanation}", "", "Excerpts:"]
    lines += [f"{i}. {text}" for i, text in enumerate(excerpts, 1)]
    lines += ["", f"Answer with the JSON list of {len(excerpts)} values."]
    return "\n".join(lines)


def fuzz_message(explanation: str, excerpts: list[str]) -> str:
    lines = [f"Feature description: {explanation}", "", "Excerpts with marked tokens:"]
    lines += [f"{i}. {text}" for i, text in enumerate(excerpts, 1)]
    lines += ["", f"Answer with the JSON list of {len(excerpts)} values."]
    return "\n".join(lines)


def parse_explanation(reply: str) -> str | None:
    """The explanation from the reply's last 'EXPLANATION:' line, or None when there is none."""
    found = re.findall(
        r"^\s*\**EXPLANATION\**\s*:\s*(.+?)\s*$", reply, flags=re.IGNORECASE | re.MULTILINE
    )
    return found[-1].strip().strip("*").strip() or None if found else None


def parse_predictions(reply: str, n: int) -> list[int] | None:
    """The last bracketed list in the reply if it holds exactly ``n`` values, each 0 or 1; else
    None."""
    for candidate in reversed(re.findall(r"\[[^\[\]]*\]", reply)):
        try:
            values = json.loads(candidate)
        except ValueError:
            continue
        if (
            isinstance(values, list)
            and len(values) == n
            and all(v in (0, 1) and not isinstance(v, bool) for v in values)
        ):
            return [int(v) for v in values]
        return None
    return None
