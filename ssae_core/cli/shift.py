"""``shift``: remove a spurious cue from a probe with SAE latents; worst-group accuracy per SAE."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ssae_core.cli import common
from ssae_core.infra.config import add_options, from_args
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.workspace import Workspace

SHIFT_HELP = "SHIFT: a probe's reliance on a spurious cue, removed with SAE latents"
ABLATE_HELP = (
    "latents to remove: 'suggested' (top latents whose pooled activation the cue explains),"
    " 'top:K' (the K of highest attribution), 'none', or ids such as 12,40; once for every SAE"
    " or once per SAE in order (the GSAE first)"
)


def register(sub: argparse._SubParsersAction) -> None:
    common.add_commands(sub, common.Command("shift", SHIFT_HELP, _options, run))


def _options(p: argparse.ArgumentParser) -> None:
    from ssae_core.analysis.shift.run import ShiftConfig
    from ssae_core.analysis.shift.task import DEMO_TASK, TaskConfig

    common.sae_options(p)
    p.add_argument(
        "--task",
        default=DEMO_TASK,
        help="demo:bios, a CSV / jsonl / parquet file (text, label, group), or"
        " hf:LabHC/bias_in_bios",
    )
    add_options(p, TaskConfig)
    add_options(p, ShiftConfig, exclude=["version"])
    p.add_argument(
        "--task-ssae",
        action="store_true",
        help="demo world: also finetune (once) an SSAE on a selection seeded with the task's"
        " training texts, and compare it",
    )
    p.add_argument("--ablate", action="append", default=[], help=ABLATE_HELP)


def run(args: argparse.Namespace) -> int:
    from ssae_core.analysis.shift import run as shift_run
    from ssae_core.analysis.shift.task import TaskConfig, load_task
    from ssae_core.demo.bios import bios_of

    ws = Workspace(args.workspace)
    cfg = from_args(shift_run.ShiftConfig, args)
    with common.progress(args) as progress:
        base = common.load_base(args, ws, progress)
        task = load_task(args.task, bios_of(base), from_args(TaskConfig, args))
        saes = shift_saes(ws, base, args, task, progress)
        ablate = _ablations(args.ablate, len(saes))
        rows = []
        for sae, which in zip(saes, ablate):
            data = shift_run.load(shift_run.rank(ws, base, sae, task, cfg, progress))
            latents = pick_latents(data, which)
            score = None
            if latents is not None:
                score = shift_run.score(ws, data, latents, cfg.probe_c)
            rows.append(_row(data, score))
    common.emit({"task": task.name, "saes": rows}, args.json, format_shift)
    return 0


def shift_saes(ws: Workspace, base, args: argparse.Namespace, task, progress):
    """The GSAE (unless --no-gsae), each --ssae (``ART`` or ``ART#i``), and the task SSAE."""
    from ssae_core.evaluate.sae_set import sae_set

    saes = sae_set(ws, base, [], include_gsae=not args.no_gsae)
    for spec in args.ssae:
        saes += common.picked_ssaes(ws, base, spec)
    if args.task_ssae:
        if base.data is None:
            raise ConfigError(
                "--task-ssae uses the demo world's corpus; with another base, select and"
                " finetune seeded with the task's file, then pass --ssae."
            )
        from ssae_core.analysis.shift.ssae import TaskSSAEConfig, task_ssae

        cfg = TaskSSAEConfig(seed=args.seed)
        art = task_ssae(base, ws, task, base.data.text_set(base.data.corpus_split), cfg, progress)
        saes += [
            replace(s, label=f"task SSAE λ={cfg.sparsity:g}")
            for s in sae_set(ws, base, [art], include_gsae=False)
        ]
    if not saes:
        raise ConfigError("No SAE to test: give --ssae or --task-ssae, or drop --no-gsae.")
    return saes


def _ablations(values: list[str], n: int) -> list[str]:
    if not values:
        return ["suggested"] * n
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ConfigError(f"Give --ablate once, or once per SAE ({n}); got {len(values)}.")
    return values


def pick_latents(data, which: str) -> list[int] | None:
    """The latent ids ``--ablate`` names for one SAE (None for 'none')."""
    which = which.strip()
    if which == "none":
        return None
    if which == "suggested":
        return data.suggested
    if which.startswith("top:"):
        k = common.floats(which[4:], "--ablate top:K")[0]
        return [int(i) for i in data.table.latent[: int(k)]]
    return [int(v) for v in common.floats(which, "--ablate")]


def _row(data, score) -> dict:
    s = data.art.summary
    top = data.table.drop(columns=["column"]).head(10)
    return {
        "sae": s["sae"],
        "ref": s["sae_ref"],
        "artifact": data.art.ref,
        "n_active": s["n_active"],
        "l0": s["l0"],
        "before": s["before"],
        "oracle": s.get("oracle"),
        "suggested": s["suggested"],
        "score": score.to_dict() if score is not None else None,
        "top": top.to_dict("records"),
    }


def format_shift(out: dict) -> str:
    """One line per SAE: accuracy and worst-group accuracy before / after removal / retrained."""

    def three(s: dict) -> str:
        return f"{s['accuracy']:.3f} / {s['worst']:.3f} / {s['cue']:.3f}"

    lines = [
        f"task {out['task']}: accuracy / worst group / agreement with the cue, on the balanced"
        " test split"
    ]
    for r in out["saes"]:
        line = f"{r['sae']}: {r['n_active']} latents active, L0 {r['l0']:.1f}; probe"
        line += f" {three(r['before'])}"
        if r["score"]:
            s = r["score"]
            line += f"; {len(s['latents'])} removed {three(s['ablated'])}"
            line += f"; retrained {three(s['retrained'])}; oracle {three(s['oracle'])}"
            line += f"; SCR {s['scr']:.3f}"
        lines.append(line)
        lines.append(f"  suggested spurious: {r['suggested'] or 'none'}")
    return "\n".join(lines)
