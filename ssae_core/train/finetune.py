"""Finetune a GSAE into SSAEs on cached activations: ERM or tilted ERM, a sparsity sweep per run.

The paper's recipe (Sec. 2.4, App. A): Adam, lr 5e-5, 4096-token batches, shuffled,
linear LR decay over the last 1000 steps, unit-norm decoder rows, 1000 steps (physics)
or 500 (toxicity). An *item* of the objective is a token by default: the paper's
``L_w(z_i)`` is the SAE loss of one activation vector (Eq. 1), and its tilts (500 and
up) are set against per-token losses. ``item="sequence"`` tilts over documents instead
(a document's loss is the mean over its tokens; batches hold whole documents).

A run checkpoints into ``<workspace>/runs/<key>/`` (outside the artifact, so a crash or
a cancel keeps it); running the same config again resumes there, with the same batches
(a pure function of seed and step), and ends with the same weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ssae_core.infra.device import pick_device
from ssae_core.infra.errors import ConfigError, SSAEError
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Artifact, Step, Workspace
from ssae_core.models.activations import ActivationStore, batch_stream
from ssae_core.models.sae_math import (
    Variance,
)
from ssae_core.models.sae_stack import SAEStack
from ssae_core.train.checkpoint import (
    resume,
    save_checkpoint,
    write_live_log,
)
from ssae_core.train.config import FinetuneConfig
from ssae_core.train.resample import aim_new, resample_dead
from ssae_core.train.tilt import objective

if TYPE_CHECKING:
    from ssae_core.infra.executor import Context


class TrainingError(SSAEError):
    """A run that cannot go on (e.g. a NaN loss); its last good checkpoint is kept."""


def lr_at(cfg: FinetuneConfig, step: int) -> float:
    """The learning rate of step ``step`` (0-based): constant, then linear decay to 0."""
    return cfg.lr * min(1.0, (cfg.steps - step) / cfg.decay_steps)


def split_rows(doc: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows), validation = a seeded share of whole documents."""
    docs = np.unique(doc)
    n_val = int(round(val_fraction * len(docs))) if len(docs) > 1 else 0
    val_docs = np.random.default_rng(seed).permutation(docs)[:n_val]
    is_val = np.isin(doc, val_docs)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def finetune_task(context: Context, acts_ref: str, cfg: FinetuneConfig) -> str:
    """``finetune`` as an executor's unit: the context's GSAE on the activations ``acts_ref``;
    returns the ``ssae`` ref."""
    base, ws = context.base(), context.ws
    acts = ws.get(acts_ref)
    return finetune(ws, base.sae, base.ref, acts, cfg, context.device, context.progress).ref


def finetune(
    ws: Workspace,
    gsae,
    gsae_ref: str,
    acts: Artifact,
    cfg: FinetuneConfig,
    device: str | None = None,
    progress: Progress | None = None,
    step: Step | None = None,
    kind: str = "ssae",
) -> Artifact:
    """Train one SSAE per (tilt, sparsity value) of ``cfg`` from ``gsae`` on the cached activations
    ``acts`` (``step``: how the artifact is obtained, default ``ws.build``; see
    ``Workspace.find_chain``; ``kind``: the artifact's kind, ``gsae`` for one trained from
    scratch).

    The ``ssae`` artifact holds ``sae_<i>/`` (SAELens format, one per SSAE in
    ``cfg.stack_sparsity`` order), ``log.parquet`` (per logged step and SAE: its curve (tilt
    label), loss, mse, sparsity, L0, dead, tilt t, ESS, lr) and ``val.parquet`` (final metrics
    per SAE on the held-out documents).
    """
    cfg.validate()
    progress = progress or Silent()
    inputs = [acts.ref, gsae_ref]
    run_dir = ws.root / "runs" / ws.key_for(kind, cfg, inputs)

    def build(out: Path) -> dict:
        dev = pick_device(device)
        stack = SAEStack(
            gsae, cfg.stack_sparsity, cfg.jumprelu_bandwidth, cfg.normalize_decoder, cfg.extend
        ).to(dev)
        store = ActivationStore(acts)
        train_rows, val_rows = split_rows(np.asarray(store.doc), cfg.val_fraction, cfg.seed)
        log = _train(stack, store, train_rows, cfg, run_dir, progress)
        val = validate_stack(
            stack, store, val_rows if len(val_rows) else train_rows, cfg.batch_tokens
        )
        val.insert(1, "curve", [cfg.curve_of(i) for i in val.sae])
        for i in range(len(stack)):
            stack.export(i).save_model(out / f"sae_{i}")
        log.to_parquet(out / "log.parquet", index=False)
        val.to_parquet(out / "val.parquet", index=False)
        return {
            "architecture": stack.arch,
            "d_sae": int(stack.d_sae),
            "gsae": gsae_ref,
            "train_tokens": int(len(train_rows)),
            "val_tokens": int(len(val_rows)),
            "val": val.to_dict("records"),
        }

    art = (step or ws.build)(kind, cfg, build, inputs)
    shutil.rmtree(run_dir, ignore_errors=True)
    return art


def _train(
    stack: SAEStack,
    store: ActivationStore,
    rows: np.ndarray,
    cfg: FinetuneConfig,
    run_dir: Path,
    progress: Progress,
) -> pd.DataFrame:
    dev = stack.coef.device
    if stack.arch == "topk" and (cfg.sparsity_warmup or cfg.target_l0):
        raise ConfigError("A TopK SAE's sparsity is k: it has no coefficient to warm up or steer.")
    opt = torch.optim.Adam(stack.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    last_fired = torch.full((len(stack), stack.d_sae), -1, dtype=torch.long, device=dev)
    schedule = cfg.schedule()
    start, log = resume(run_dir / "checkpoint.pt", stack, opt, last_fired, schedule)
    doc = np.asarray(store.doc)[rows]
    stream = batch_stream(doc, cfg.batch_tokens, cfg.seed, cfg.item, start)
    progress.stage(
        f"finetune {len(stack)} SAE(s), {cfg.objective} {cfg.tilt_label}".rstrip(),
        cfg.steps,
    )
    progress.update(start)
    for step in range(start, cfg.steps):
        batch = next(stream)
        x = store.rows(rows[batch]).to(dev)
        if step == 0:
            _aim_at_start(stack, store, rows, cfg, opt, x)
        factor = schedule.factor(step)
        per_sae, tilting, out = train_step(stack, opt, x, doc[batch], cfg, step, factor)
        if not torch.isfinite(per_sae).all():
            raise TrainingError(
                f"The loss became {per_sae.tolist()} at step {step}; the last good checkpoint is"
                f" kept in {run_dir}. Lower the learning rate or the sparsity values and run again."
            )
        last_fired[out["fired"]] = step
        schedule.observe(step, out["l0"].mean(1))
        if cfg.resamples_at(step):
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
            for i in range(len(stack)):
                dead = last_fired[i] < step - cfg.resample_every
                resample_dead(stack, i, opt, x, dead, gen, cfg.reaim, cfg.aim == "clusters")
        if step % cfg.log_every == 0 or step + 1 == cfg.steps:
            log += _log_rows(step, stack, cfg, per_sae, tilting, out, last_fired, factor)
            write_live_log(run_dir, log)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            state = (stack, opt, last_fired, log, schedule)
            save_checkpoint(run_dir / "checkpoint.pt", step + 1, *state)
        shown = {"ess": float(tilting[1].mean())} if cfg.objective == "term" else {}
        progress.update(1, loss=float(per_sae.mean()), l0=float(out["l0"].mean()), **shown)
    return pd.DataFrame(log)


START_SAMPLE_BATCHES = 16
"""Batches of the selection (evenly spaced rows) on which latents are aimed at the start, with
``aim="clusters"`` or ``reaim``."""


@torch.no_grad()
def _aim_at_start(stack, store, rows, cfg: FinetuneConfig, opt, x) -> None:
    """Before the first step: an extension's new latents aimed at the residual errors of the first
    batch (``aim="tokens"``) or of a sample of the selection (``aim="clusters"``); with ``reaim``,
    the latents silent on that sample re-aimed at it."""
    gen = torch.Generator().manual_seed(cfg.seed)
    clusters, sample = cfg.aim == "clusters", x
    if (clusters and stack.frozen) or cfg.reaim:  # a sample only where latents are aimed at it
        n = min(len(rows), START_SAMPLE_BATCHES * cfg.batch_tokens)
        sample = store.rows(rows[np.linspace(0, len(rows) - 1, n).astype(np.int64)])
        sample = sample.to(x.device)
    if stack.frozen:
        for i in range(len(stack)):
            aim_new(stack, i, opt, sample if clusters else x, gen, clusters)
    if cfg.reaim:
        for i in range(len(stack)):
            silent = ~stack.one(i, sample)["fired"]
            resample_dead(stack, i, opt, sample, silent, gen, aimed=True, clusters=clusters)


def train_step(
    stack: SAEStack,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    doc: np.ndarray,
    cfg: FinetuneConfig,
    step: int,
    factor: torch.Tensor | None = None,
):
    """One optimizer step of every SAE in the stack on batch ``x`` (``factor``: per SAE, the
    schedule's factor on its sparsity coefficient; default 1).

    The SAEs go forward and backward one at a time (their gradients are independent),
    so memory holds one SAE's graph, not K; then one Adam step updates them all.
    Returns (objective per SAE (K,), (tilt, ESS) per SAE (2, K), per-token outputs as in
    ``SAEStack.forward``), detached; the caller checks the objective is finite.
    """
    opt.zero_grad(set_to_none=True)
    per_sae, tilts, outs = [], [], []
    for i in range(len(stack)):
        out = stack.one(i, x, 1.0 if factor is None else float(factor[i]))
        obj = objective(out["loss"][None], doc, cfg.item, cfg.tilt_of(i))
        obj.value.sum().backward()
        per_sae.append(obj.value.detach())
        tilts.append(torch.cat([obj.tilt, obj.ess]))
        outs.append({k: v.detach() for k, v in out.items()})
    stack.before_step()
    for group in opt.param_groups:
        group["lr"] = lr_at(cfg, step)
    opt.step()
    stack.after_step()
    return (
        torch.cat(per_sae),
        torch.stack(tilts, 1),
        {k: torch.stack([o[k] for o in outs]) for k in outs[0]},
    )


@torch.no_grad()
def _log_rows(step, stack, cfg, per_sae, tilting, out, last_fired, factor) -> list[dict]:
    mse, sparsity, l0 = out["mse"].mean(1), out["sparsity"].mean(1), out["l0"].mean(1)
    dead = ((step - last_fired) >= cfg.dead_window) | (last_fired < 0)
    t, ess = tilting
    return [
        {
            "step": step,
            "sae": i,
            "sparsity": float(stack.coef[i]),
            "coef_factor": float(factor[i]),
            "curve": cfg.curve_of(i),
            "loss": float(per_sae[i]),
            "mse": float(mse[i]),
            "sparsity_term": float(sparsity[i]),
            "l0": float(l0[i]),
            "dead_fraction": float(dead[i].float().mean()),
            "tilt": float(t[i]),
            "ess": float(ess[i]),
            "lr": lr_at(cfg, step),
        }
        for i in range(len(stack))
    ]


@torch.no_grad()
def validate_stack(
    stack: SAEStack, store: ActivationStore, rows: np.ndarray, batch_tokens: int
) -> pd.DataFrame:
    """Per SAE on ``rows``: MSE, FVU, explained variance, L0, sparsity term, dead fraction."""
    dev = stack.coef.device
    k = len(stack)
    sq_err, sparsity, l0 = (
        torch.zeros(k, device=dev),
        torch.zeros(k, device=dev),
        torch.zeros(k, device=dev),
    )
    fired = torch.zeros(k, stack.d_sae, dtype=torch.bool, device=dev)
    variance = Variance()
    for start in range(0, len(rows), batch_tokens):
        x = store.rows(rows[start : start + batch_tokens]).to(dev)
        out = stack(x)
        sq_err += out["mse"].sum(1)
        sparsity += out["sparsity"].sum(1)
        l0 += out["l0"].sum(1)
        fired |= out["fired"]
        variance.add(x)
    total = variance.n
    fvu = variance.fvu(sq_err.double()).float()
    return pd.DataFrame(
        {
            "sae": range(k),
            "sparsity": stack.coef.tolist(),
            "mse": (sq_err / total).tolist(),
            "fvu": fvu.tolist(),
            "explained_variance": (1 - fvu).tolist(),
            "l0": (l0 / total).tolist(),
            "sparsity_term": (sparsity / total).tolist(),
            "dead_fraction": (~fired).float().mean(1).tolist(),
            "tokens": total,
        }
    )


def load_ssaes(art: Artifact, device: str = "cpu") -> list:
    """The SSAEs of a finetuning artifact as SAELens SAEs, in sweep order."""
    from sae_lens import SAE

    return [
        SAE.load_from_disk(art.file(f"sae_{i}"), device=device)
        for i in range(len(FinetuneConfig.from_dict(art.manifest["config"]).stack_sparsity))
    ]
