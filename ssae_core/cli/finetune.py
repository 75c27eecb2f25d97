"""``finetune``: the GSAE finetuned on a selection into SSAEs (ERM or TERM, a sparsity sweep)."""

from __future__ import annotations

import argparse

from ssae_core.cli import common
from ssae_core.infra.config import add_options, from_args
from ssae_core.infra.workspace import Workspace

FINETUNE_OPTIONS = [
    "objective",
    "tilt",
    "tilt_scale",
    "target_ess",
    "tilt_sweep",
    "ess_sweep",
    "sparsity",
    "steps",
    "item",
    "batch_tokens",
    "lr",
    "decay_steps",
    "seed",
    "sparsity_warmup",
    "target_l0",
    "resample_every",
    "reaim",
    "extend",
    "aim",
]
FINETUNE_FLAGS = {"sparsity": "--l1"}


FINETUNE_HELP = (
    "specialize the GSAE on a selection into SSAEs (ERM or TERM, a sparsity sweep); by default"
    " the measured recipe: 512 new latents on the frozen GSAE's residual (--extend 0 finetunes"
    " every latent instead)"
)


def register(sub: argparse._SubParsersAction) -> None:
    common.add_commands(sub, common.Command("finetune", FINETUNE_HELP, _options, run, check))


def _options(p: argparse.ArgumentParser) -> None:
    from ssae_core.models.activations import CacheConfig  # loads torch and transformer_lens
    from ssae_core.train.finetune import FinetuneConfig

    common.common_options(p)
    common.base_options(p)
    p.add_argument(
        "--selection",
        required=True,
        help="a selection artifact: its directory, or selection/KEY inside the workspace",
    )
    add_options(
        p,
        FinetuneConfig,
        flags=FINETUNE_FLAGS,
        only=FINETUNE_OPTIONS,
        defaults=FinetuneConfig.recipe(),
    )
    p.set_defaults(decay_steps=None)  # the recipe's share of --steps (check)
    add_options(p, CacheConfig, flags={"dtype": "--cache-dtype"}, only=["dtype"])
    common.executor_options(p)
    common.background_option(p)


def check(args: argparse.Namespace):
    from ssae_core.train.finetune import FinetuneConfig

    if args.decay_steps is None:
        args.decay_steps = FinetuneConfig.recipe(steps=args.steps).decay_steps
    return from_args(FinetuneConfig, args).validate()


def run(args: argparse.Namespace) -> int:
    from ssae_core.infra.executor import Task
    from ssae_core.models.activations import CacheConfig
    from ssae_core.select.selection import selection_activations
    from ssae_core.train import finetune as train

    ws = Workspace(args.workspace)
    cfg = check(args)
    sel_art = common.open_artifact(ws, args.selection, "selection")
    if args.background:
        return common.launch_training_job(
            args,
            ws,
            f"finetune-{ws.key_for('ssae', cfg, [sel_art.ref])[:10]}",
            ["--selection", str(sel_art.path)],
        )
    with common.progress(args) as progress:
        base = common.load_base(args, ws, progress)
        cache = from_args(CacheConfig, args)
        acts = selection_activations(ws, base, sel_art, cache, progress)
        context = base.context(ws, args.device, progress)
        task = Task("finetune", train.finetune_task, (acts.ref, cfg), gpu=True)
        (ref,) = common.executor(args, ws).run([task], context)
        art = ws.get(ref)
    common.emit(
        {
            **art.summary,
            "ref": art.ref,
            "saes": [f"{art.ref}#{i}" for i in range(len(cfg.stack_sparsity))],
            "path": str(art.path),
            "activations": str(acts.path),
        },
        args.json,
        format_finetune,
    )
    return 0


def format_finetune(s: dict) -> str:
    lines = [
        (
            f"SSAEs ({s['architecture']}, {s['d_sae']} features) from {s['gsae']}:"
            f" {s['train_tokens']} training tokens   {s['path']}"
        ),
        f"  validation ({s['val_tokens']} held-out tokens):",
        "    sparsity        L0     FVU     MSE   dead",
    ]
    lines += [
        f"    {v['sparsity']:8.3g}  {v['l0']:8.1f}  {v['fvu']:6.3f}  {v['mse']:6.3f} "
        f" {v['dead_fraction']:5.1%}"
        for v in s["val"]
    ]
    return "\n".join(lines)
