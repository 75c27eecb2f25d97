"""Fixtures of the models tests: a tiny GPT-2 in Hugging Face format."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from ssae_core.demo import tokenizer as tk


@pytest.fixture(scope="session")
def hf_dir(tmp_path_factory):
    """A tiny GPT-2 in Hugging Face format, with its tokenizer, made here."""
    d = tmp_path_factory.mktemp("hf-gpt2")
    tok = tk.train_tokenizer(["the cat sat on the mat .", "a dog ran to the park ."])
    tk.save_tokenizer(tok, d)
    torch.manual_seed(0)
    cfg = GPT2Config(
        n_layer=2, n_embd=32, n_head=2, vocab_size=tok.get_vocab_size(), n_positions=64, n_ctx=64
    )
    model = GPT2LMHeadModel(cfg).eval()
    model.save_pretrained(d)
    return d, model
