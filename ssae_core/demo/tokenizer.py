"""Word-level tokenizer of the demo world, built offline from its corpus.

One written word is one token, so the corpus's per-word concept labels are per-token
labels too. Wrapped as a ``PreTrainedTokenizerFast`` so TransformerLens and sae_lens
accept it like any Hugging Face tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
TOKENIZER_FILE = "tokenizer.json"


def train_tokenizer(texts: Iterable[str]) -> Tokenizer:
    """A word-level tokenizer over every word of ``texts`` (special tokens get ids 0-3)."""
    tok = Tokenizer(models.WordLevel(unk_token=SPECIAL["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(special_tokens=list(SPECIAL.values()), min_frequency=1)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok: Tokenizer, directory: Path) -> None:
    wrap(tok).save_pretrained(str(directory))


def wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """The Hugging Face wrapper, with BOS/EOS/PAD/UNK set."""
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL)
    fast.padding_side = "right"
    return fast


def load_tokenizer(directory: Path) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast.from_pretrained(str(directory))
