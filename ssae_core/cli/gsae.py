"""``gsae train``: a general SAE trained from scratch for a local model that has none."""

from __future__ import annotations

import argparse

from ssae_core.cli import common
from ssae_core.infra.config import add_options, from_args
from ssae_core.infra.workspace import Workspace

TRAIN_HELP = "train a general SAE (GSAE) from scratch on a corpus, for a local model without one"


def register(sub: argparse._SubParsersAction) -> None:
    gsae = sub.add_parser("gsae", help="general SAEs for models that have none").add_subparsers(
        title="gsae commands"
    )
    common.add_commands(gsae, common.Command("train", TRAIN_HELP, _options, run, check))


def _options(p: argparse.ArgumentParser) -> None:
    from ssae_core.train.gsae import GSAETrainConfig  # loads torch and sae_lens

    common.common_options(p)
    p.add_argument(
        "--model-dir",
        required=True,
        help="the model: a Hugging Face or this project's model directory, or a .gguf file",
    )
    p.add_argument("--corpus", required=True, help="general text: a .txt / .jsonl file or folder")
    common.text_field_option(p)
    add_options(p, GSAETrainConfig, exclude=["version"])
    common.background_option(p)


def check(args: argparse.Namespace):
    from ssae_core.train.gsae import GSAETrainConfig

    return from_args(GSAETrainConfig, args).validate()


def run(args: argparse.Namespace) -> int:
    from ssae_core.infra.device import pick_device
    from ssae_core.models.base import BaseSpec
    from ssae_core.models.model_io import load_model_dir
    from ssae_core.select.data import IngestConfig, load_texts
    from ssae_core.train.gsae import SAE_SUBDIR, local_model_ref, train_gsae

    ws = Workspace(args.workspace)
    cfg = check(args)
    spec = BaseSpec(source="local", model_dir=args.model_dir)
    if args.background:
        return common.launch_training_job(
            args, ws, f"gsae-{spec.digest()[:6]}{cfg.digest()[:6]}", []
        )
    corpus = load_texts(args.corpus, from_args(IngestConfig, args))
    with common.progress(args) as progress:
        model = load_model_dir(args.model_dir, pick_device(args.device))
        model_ref = local_model_ref(args.model_dir)
        art = train_gsae(ws, model, model_ref, corpus, cfg, args.device, progress)
    sae_dir = art.path / SAE_SUBDIR
    (val,) = art.summary["val"]
    out = {"sae_dir": str(sae_dir), "model_dir": args.model_dir, **art.summary, "val": val}
    common.emit(out, args.json, format_gsae)
    return 0


def format_gsae(s: dict) -> str:
    v = s["val"]
    return (
        f"GSAE ({s['architecture']}, {s['d_sae']} latents) on {s['train_tokens']} tokens:"
        f" L0 {v['l0']:.1f}, FVU {v['fvu']:.3f}, dead {v['dead_fraction']:.1%} on"
        f" {s['val_tokens']} held-out tokens\n"
        f"use it: --base local --model-dir {s['model_dir']} --sae-dir {s['sae_dir']}"
    )
