"""Run the LM over documents and collect activations at one hook; the on-disk activation cache.

Convention (used everywhere in the project): every document is its own sequence,
BOS first, truncated to the model's context. The BOS position is never given to an
SAE (real LMs park huge-norm activations there) and is never spliced; padding is on
the right, so it cannot change a real position under causal attention.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from transformer_lens import HookedTransformer

from ssae_core.infra.config import Config
from ssae_core.infra.errors import ConfigError, WorkspaceError
from ssae_core.infra.heap import trim
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Artifact, RowFile, Step, Workspace

if TYPE_CHECKING:
    from ssae_core.models.base import Base


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


_HOOK_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_HOOK_LOCKS_GUARD = threading.Lock()


def hook_lock(model: HookedTransformer) -> threading.Lock:
    """The lock that serializes ``model``'s hooked forward passes. TransformerLens adds its hooks
    to the model itself, so two threads running hooked passes of one model at once (two
    dashboard sessions share the cached model) would read each other's activations."""
    with _HOOK_LOCKS_GUARD:
        return _HOOK_LOCKS.setdefault(model, threading.Lock())


@torch.no_grad()
def hook_activations(
    model: HookedTransformer, tokens: torch.Tensor, hook_name: str
) -> torch.Tensor:
    """Activations at ``hook_name`` for a token batch, stopping the forward pass there."""
    with hook_lock(model):
        _, cache = model.run_with_cache(
            tokens.to(model.cfg.device),
            names_filter=hook_name,
            stop_at_layer=layer_of(hook_name) + 1,
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
    out: np.ndarray | RowFile | None = None,
) -> tuple[torch.Tensor | np.ndarray, np.ndarray, np.ndarray]:
    """Activations of every non-BOS token, in document order.

    Returns (acts (N, d_in), doc index (N,), position in doc (N,)); token ``docs[d][p]``
    has its activation in the row where doc == d and position == p. Acts are a float32
    CPU tensor, or ``out`` (an array or a ``RowFile`` of ``token_count`` rows) filled batch by
    batch.
    """
    n_ctx = model.cfg.n_ctx
    counts = kept_counts(docs, n_ctx)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    if out is None:
        out = torch.empty(int(offsets[-1]), model.cfg.d_model, dtype=torch.float32)
    for batch in doc_batches(docs, bos, pad, n_ctx):
        acts = hook_activations(model, batch.tokens, hook_name).float().cpu()
        if not isinstance(out, torch.Tensor):
            acts = acts.numpy()
        for r, i in enumerate(batch.doc_index):
            out[offsets[i] : offsets[i + 1]] = acts[r, 1 : 1 + counts[i]]
        if progress:
            progress(len(batch.doc_index))
        trim()  # batch shapes vary: give the freed blocks back (heap.py)
    doc = np.repeat(np.arange(len(docs)), counts)
    pos = np.arange(len(doc)) - offsets[doc]
    return out, doc, pos


def pad_id(tokenizer) -> int:
    """The id used for right padding (any id works: padded positions are never read)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def kept_tokens(docs: Sequence[np.ndarray], n_ctx: int) -> np.ndarray:
    """Token ids of the rows ``collect`` returns, in the same order (each document cut to the
    context)."""
    counts = kept_counts(docs, n_ctx)
    return np.concatenate(
        [np.asarray(d[:c]) for d, c in zip(docs, counts)] or [np.zeros(0, np.int64)]
    )


def kept_counts(docs: Sequence[np.ndarray], n_ctx: int) -> np.ndarray:
    """How many tokens of each document get an activation (all but what the context cuts)."""
    return np.array([min(len(d), n_ctx - 1) for d in docs], dtype=np.int64)


@dataclass(frozen=True)
class CacheConfig(Config):
    """How an activation cache is stored: float32, or float16 for half the disk."""

    dtype: Literal["float32", "float16"] = "float32"
    """How the activation cache is stored."""
    version: int = 1


def cache_activations(
    ws: Workspace,
    base: Base,
    docs: Sequence[np.ndarray],
    docs_ref: str,
    cfg: CacheConfig = CacheConfig(),
    progress: Progress | None = None,
    step: Step | None = None,
) -> Artifact:
    """The ``activations`` artifact of ``docs`` (token ids) at the base's hook, computed once
    (``step``: how the artifact is obtained, default ``ws.build``).

    Files: ``acts.npy`` (N, d_in) in ``cfg.dtype`` and ``tokens.npy`` / ``doc.npy`` /
    ``pos.npy`` (int32), rows in document order, written batch by batch to memmaps.
    """
    if cfg.dtype not in ("float32", "float16"):
        raise ConfigError(f"Activation cache dtype must be float32 or float16, not {cfg.dtype!r}.")
    progress = progress or Silent()
    model, tok = base.model, base.tokenizer

    def build(out: Path) -> dict:
        counts = kept_counts(docs, model.cfg.n_ctx)
        n = int(counts.sum())
        acts = RowFile(out / "acts.npy", cfg.dtype, (n, model.cfg.d_model))
        progress.stage("cache activations", len(docs))
        try:
            _, doc, pos = collect(
                model, base.hook_name, docs, tok.bos_token_id, pad_id(tok), progress.update, acts
            )
        finally:
            acts.close()
        tokens = kept_tokens(docs, model.cfg.n_ctx)
        for name, arr in (("tokens", tokens), ("doc", doc), ("pos", pos)):
            np.save(out / f"{name}.npy", arr.astype(np.int32))
        return {
            "tokens": n,
            "documents": len(docs),
            "d_in": int(model.cfg.d_model),
            "hook_name": base.hook_name,
            "dtype": cfg.dtype,
        }

    return (step or ws.build)("activations", cfg, build, [docs_ref, base.ref])


class ActivationStore:
    """Read access to an activation cache whose resident memory follows the batch, not the file.

    ``rows`` reads the requested rows with ``preadv``, one call per run of consecutive rows in
    file order, into a buffer of the batch's size: nothing of the file is ever mapped. (Reading
    through a memmap, the kernel maps whole page-cache folios around each touched row: one
    random 4,096-row batch of a 977 MiB cache put about 715 MiB of it in the process's RSS, with
    ``MADV_RANDOM`` too.)
    """

    def __init__(self, art: Artifact):
        self.art = art
        self.doc = np.load(art.file("doc.npy"), mmap_mode="r")
        with open(art.file("acts.npy"), "rb") as fh:
            read = {(1, 0): np.lib.format.read_array_header_1_0}.get(
                np.lib.format.read_magic(fh), np.lib.format.read_array_header_2_0
            )
            (self.n, self.d_in), _, self.dtype = read(fh)
            self.offset = fh.tell()

    def rows(self, idx: np.ndarray) -> torch.Tensor:
        """The activations of rows ``idx`` as a float32 tensor, in the order given."""
        idx = np.asarray(idx, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        wanted = idx[order]
        raw = np.empty((len(idx), self.d_in), dtype=self.dtype)
        row_bytes = raw.itemsize * self.d_in
        starts = np.flatnonzero(np.r_[True, np.diff(wanted) != 1])
        ends = np.r_[starts[1:], len(idx)]
        buffer = memoryview(raw).cast("B")
        fd = os.open(self.art.file("acts.npy"), os.O_RDONLY)
        try:
            for a, b in zip(starts.tolist(), ends.tolist()):
                at = self.offset + int(wanted[a]) * row_bytes
                if (
                    os.preadv(fd, [buffer[a * row_bytes : b * row_bytes]], at)
                    != (b - a) * row_bytes
                ):
                    raise WorkspaceError(
                        f"{self.art.path} is shorter than its header says; delete the artifact"
                        " and cache the activations again."
                    )
        finally:
            os.close(fd)
        block = np.empty((len(idx), self.d_in), dtype=np.float32)
        block[order] = raw
        return torch.from_numpy(block)


def epoch_batches(
    doc: np.ndarray, batch_tokens: int, seed: int, epoch: int, item: str = "token"
) -> list[np.ndarray]:
    """One epoch's batches of row indices, a pure function of (seed, epoch).

    ``item="token"``: a permutation of the rows in batches of exactly ``batch_tokens``
    (the remainder waits for the next epoch). ``item="sequence"``: whole documents in
    shuffled order, a batch closing once it holds ``batch_tokens`` tokens.
    """
    rng = np.random.default_rng([seed, epoch])
    n = len(doc)
    if item == "token":
        perm = rng.permutation(n)
        return [perm[i : i + batch_tokens] for i in range(0, n - batch_tokens + 1, batch_tokens)]
    starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]]) if n else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], n]
    batches, current, size = [], [], 0
    for d in rng.permutation(len(starts)):
        current.append(np.arange(starts[d], ends[d]))
        size += ends[d] - starts[d]
        if size >= batch_tokens:
            batches.append(np.concatenate(current))
            current, size = [], 0
    return batches


def batch_stream(
    doc: np.ndarray, batch_tokens: int, seed: int, item: str = "token", start_step: int = 0
) -> Iterator[np.ndarray]:
    """Batches for steps ``start_step, start_step + 1, ...``, epoch after epoch: resumable at any
    step."""
    step, epoch = 0, 0
    while True:
        batches = epoch_batches(doc, batch_tokens, seed, epoch, item)
        if not batches:
            raise ConfigError(
                f"The training data ({len(doc)} tokens) is smaller than one batch of {batch_tokens}"
                " tokens; select more text or lower the batch size."
            )
        for batch in batches:
            if step >= start_step:
                yield batch
            step += 1
        epoch += 1


def word_level(tokens: list[str]) -> bool:
    """True for a word-level vocabulary (tokens joined with spaces); False for sub-word pieces
    (BPE, SentencePiece), which carry their own leading spaces and join with nothing."""
    return not any(t[:1].isspace() for t in tokens)
