"""Run the LM over documents and collect activations at one hook.

Convention (used everywhere in the project): every document is its own sequence,
BOS first, truncated to the model's context. The BOS position is never given to an
SAE (real LMs park huge-norm activations there) and is never spliced; padding is on
the right, so it cannot change a real position under causal attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from transformer_lens import HookedTransformer


@dataclass
class DocBatch:
    """Right-padded token ids of some documents, BOS first, and the mask of real tokens."""

    tokens: torch.Tensor  # (batch, seq) int64
    mask: torch.Tensor  # (batch, seq) bool, False on padding
    doc_index: np.ndarray  # which input documents, in row order


def layer_of(hook_name: str) -> int:
    """The block index of a ``blocks.N.…`` hook name."""
    parts = hook_name.split(".")
    if len(parts) < 3 or parts[0] != "blocks" or not parts[1].isdigit():
        raise ValueError(f"expected a hook like 'blocks.N.hook_resid_post', got {hook_name!r}")
    return int(parts[1])


def doc_batches(
    docs: Sequence[np.ndarray], bos: int, pad: int, n_ctx: int, batch_tokens: int = 16384
) -> list[DocBatch]:
    """Group documents of similar length into batches of about ``batch_tokens`` tokens."""
    lengths = np.array([min(len(d) + 1, n_ctx) for d in docs])
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        width = int(lengths[order[start]])
        rows = max(1, batch_tokens // width)
        idx = order[start : start + rows]
        tokens = torch.full((len(idx), width), pad, dtype=torch.long)
        for r, i in enumerate(idx):
            seq = np.concatenate([[bos], docs[i][: n_ctx - 1]])
            tokens[r, : len(seq)] = torch.from_numpy(seq.astype(np.int64))
        mask = torch.arange(width)[None, :] < torch.from_numpy(lengths[idx])[:, None]
        batches.append(DocBatch(tokens, mask, idx))
        start += rows
    return batches


@torch.no_grad()
def hook_activations(model: HookedTransformer, tokens: torch.Tensor, hook_name: str) -> torch.Tensor:
    """Activations at ``hook_name`` for a token batch, stopping the forward pass there."""
    _, cache = model.run_with_cache(
        tokens.to(model.cfg.device), names_filter=hook_name, stop_at_layer=layer_of(hook_name) + 1
    )
    return cache[hook_name]


@torch.no_grad()
def collect(
    model: HookedTransformer,
    hook_name: str,
    docs: Sequence[np.ndarray],
    bos: int,
    pad: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Activations of every non-BOS token, in document order.

    Returns (acts float32 (N, d_in) on CPU, doc index (N,), position in doc (N,)); token
    ``docs[d][p]`` has its activation in the row where doc == d and position == p.
    """
    n_ctx = model.cfg.n_ctx
    counts = np.array([min(len(d), n_ctx - 1) for d in docs])
    offsets = np.concatenate([[0], np.cumsum(counts)])
    out = torch.empty(int(offsets[-1]), model.cfg.d_model, dtype=torch.float32)
    for batch in doc_batches(docs, bos, pad, n_ctx):
        acts = hook_activations(model, batch.tokens, hook_name).float().cpu()
        for r, i in enumerate(batch.doc_index):
            out[offsets[i] : offsets[i + 1]] = acts[r, 1 : 1 + counts[i]]
        if progress:
            progress(len(batch.doc_index))
    doc = np.repeat(np.arange(len(docs)), counts)
    pos = np.arange(len(doc)) - offsets[doc]
    return out, doc, pos
