"""Specialization against forgetting, one finetuning option per row, side by side.

    python bench/specialize.py --workspace DIR [--subdomain physics] [--tokens 300000]
        [--method bm25] [--options short,plain,extend,reaim,extend:1024:4000] [--steps 2000]
        [--l1 3.5,5,8] [--seeds 0,1,2] [--control] [--term extend] [--device cpu] [--out F.json]

Selects the subdomain from the full demo world's retrieval pool (built if missing), finetunes the
GSAE with each option on that one selection, and measures every SAE the same way:

- subdomain tail + rare recall: the share of the subdomain's tail and rare concepts that some
  latent detects with held-out F1 >= 0.5 on ``<sub>_test`` (threshold fit on one half of the
  tokens, scored on the other; the better of token- and context-level truth), and the linear
  probe's share on the same activations (the ceiling);
- forgetting: general head + mid recall on ``general_test``, L0 and CE loss recovered on
  ``general_test``;
- subdomain spliced CE and L0 on ``<sub>_test``;
- novel latents (decoder cosine < 0.7 to every GSAE row) and how many concepts have a novel latent
  as their best detector (F1 >= 0.5);
- with ``--control``: subdomain spliced CE at matched L0 against the GSAE extended the same way on
  a random sample of its own training split (the same capacity for general text), interpolated
  along that control's L1 sweep (``--l1``).

Every option is a sweep over ``--l1`` (default: the GSAE's own coefficient), once per seed.

Options: ``short`` is the old demo comparison's budget (300 steps, lr 1e-4); ``plain`` finetunes
every latent for ``--steps`` at lr 3e-4; ``extend`` is the default recipe (``--extend`` latents on
the frozen GSAE's residual, lr 1e-3; ``extend:1024:4000:0.003`` names width, steps and lr);
``resample`` is ``plain`` with Anthropic's resampling of latents silent for 250 steps; ``reaim``
re-aims the latents silent on the selection at the start and every 250 steps at residual errors,
with a bias that keeps L0 near its value. ``--term`` runs the options it names with TERM too
(target ESS 0.5).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ssae_core.demo  # noqa: E402, F401 (registers the demo base source)
from ssae_core.analysis.specialization import latent_changes  # noqa: E402
from ssae_core.evaluate.concepts import sae_concept_f1  # noqa: E402
from ssae_core.evaluate.metrics import evaluate_saes  # noqa: E402
from ssae_core.infra.progress import Tqdm  # noqa: E402
from ssae_core.infra.workspace import Workspace  # noqa: E402
from ssae_core.models.base import BaseSpec, load_base  # noqa: E402
from ssae_core.report.compare import HEAD_MID, TAIL_RARE  # noqa: E402
from ssae_core.select.retrieval import SelectionConfig  # noqa: E402
from ssae_core.select.selection import run_selection, selection_activations  # noqa: E402
from ssae_core.train.config import RECIPE  # noqa: E402
from ssae_core.train.finetune import FinetuneConfig, finetune, load_ssaes  # noqa: E402


def options(args, l1: tuple[float, ...], seed: int) -> dict[str, FinetuneConfig]:
    """The options ``args.options`` names, each a sweep over ``l1`` at seed ``seed``. An
    extension may name its width, steps and learning rate: ``extend:1024``, ``extend:1024:4000``
    or ``extend:512:2000:0.003``."""
    long = dict(steps=args.steps, batch_tokens=4096, sparsity=l1, seed=seed)
    long["decay_steps"] = args.steps // 5
    found = {
        "short": FinetuneConfig.short(l1, 300, 4096, 1e-4, seed=seed),
        "plain": FinetuneConfig(lr=3e-4, **long),
        "resample": FinetuneConfig(lr=3e-4, resample_every=250, **long),
        "reaim": FinetuneConfig(lr=3e-4, resample_every=250, reaim=True, **long),
    }
    picked = {}
    for name in args.options.split(","):
        if name.startswith("extend"):
            given = name.split(":")[1:]
            width, steps, lr = given + [args.extend, args.steps, RECIPE["lr"]][len(given) :]
            picked[name] = FinetuneConfig.recipe(
                sparsity=l1, steps=int(steps), extend=int(width), lr=float(lr), seed=seed
            )
        else:
            picked[name] = found[name]
    term = dict(objective="term", target_ess=0.5)
    for name in filter(None, args.term.split(",")):
        picked[f"{name} TERM"] = picked[name].replace(**term)
    return picked


def recall(long: pd.DataFrame, sae: str, domains: set[str], buckets) -> tuple[int, int]:
    """(recalled, concepts) of ``domains``' concepts in ``buckets``, the better truth kind."""
    part = long[(long.sae == sae) & long.domain.isin(domains) & long.bucket.isin(buckets)]
    best = part.groupby("concept_id").best_f1.max()
    return int((best >= 0.5).sum()), int(len(best))


def novel_detectors(long: pd.DataFrame, sae: str, novel: set[int]) -> int:
    """Concepts whose best detector (F1 >= 0.5) is a novel latent."""
    part = long[long.sae == sae].sort_values("best_f1", ascending=False)
    best = part.drop_duplicates("concept_id")
    return int((best[best.best_f1 >= 0.5].best_feature.isin(novel)).sum())


CONTROL = "extend on general text"
"""The extension trained on a random sample of the GSAE's own training split: the GSAE with as
many more latents for general text, the curve an SSAE is held against at matched L0."""


def select(args, base, ws, progress, method: str, seeds: str, corpus: str):
    """The activations of a ``method`` selection of ``args.tokens`` from split ``corpus``."""
    world = base.data
    sel_cfg = SelectionConfig(method=method, token_budget=args.tokens)
    start = time.time()
    sel = run_selection(
        sel_cfg,
        world.text_set(seeds),
        world.text_set(corpus),
        base,
        ws,
        world.in_domain(args.subdomain),
        progress,
    )
    acts = selection_activations(ws, base, sel, progress=progress)
    precision = sel.summary.get("precision")
    print(f"{method} selection from {corpus}: precision {precision}, {time.time() - start:.0f} s")
    return sel, acts


def train_all(args, base, ws, progress) -> tuple[dict, dict, dict]:
    """(SAEs by name, each one's (option, seed, L1), the selection's summary)."""
    world, sub = base.data, args.subdomain
    sel, acts = select(args, base, ws, progress, args.method, f"{sub}_seed", world.corpus_split)
    runs = []
    l1 = tuple(float(v) for v in args.l1.split(",")) if args.l1 else (world.config.gsae.sparsity,)
    if args.control:
        _, general = select(args, base, ws, progress, "random", f"{sub}_seed", "general")
    for seed in (int(v) for v in args.seeds.split(",")):
        runs += [(name, seed, cfg, acts) for name, cfg in options(args, l1, seed).items()]
        if args.control:
            cfg = FinetuneConfig.recipe(
                sparsity=l1, steps=args.steps, extend=args.extend, seed=seed
            )
            runs.append((CONTROL, seed, cfg, general))
    saes, meta = {"GSAE": base.sae}, {"GSAE": ("GSAE", -1, world.config.gsae.sparsity, 0.0)}
    for name, seed, cfg, data in runs:
        start = time.time()
        art = finetune(ws, base.sae, base.ref, data, cfg, args.device, progress)
        took = time.time() - start
        for value, sae in zip(cfg.stack_sparsity, load_ssaes(art, args.device)):
            key = f"{name} · L1 {value:g} · seed {seed}"
            saes[key], meta[key] = sae, (name, seed, value, took)
    return saes, meta, sel.summary


def matched_ce(rows: pd.DataFrame) -> pd.Series:
    """Per SAE: its subdomain spliced CE minus the control's (same seed) at the same subdomain L0,
    interpolated between the control's sweep points (NaN outside their L0 range)."""
    out = pd.Series(float("nan"), index=rows.index)
    for seed, part in rows[rows.option == CONTROL].groupby("seed"):
        part = part.sort_values("sub_l0")
        if len(part) < 2:
            continue
        lo, hi = part.sub_l0.min(), part.sub_l0.max()
        mine = rows[(rows.seed == seed) & (rows.option != CONTROL) & rows.sub_l0.between(lo, hi)]
        ref = np.interp(mine.sub_l0, part.sub_l0, part.sub_ce_spliced)
        out[mine.index] = mine.sub_ce_spliced - ref
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workspace", required=True)
    p.add_argument("--subdomain", default="physics")
    p.add_argument("--tokens", type=int, default=300_000)
    p.add_argument("--method", default="bm25")
    p.add_argument("--options", default="short,plain,extend,reaim")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--extend", type=int, default=512)
    p.add_argument("--l1", default="", help="comma-separated sweep (default: the GSAE's L1)")
    p.add_argument("--seeds", default="0", help="finetuning seeds, e.g. 0,1,2")
    p.add_argument("--control", action="store_true", help=f"also train '{CONTROL}'")
    p.add_argument("--term", default="", help="options also run with TERM, e.g. extend,plain")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out")
    args = p.parse_args()
    ws, progress = Workspace(args.workspace), Tqdm()
    base = load_base(BaseSpec(), ws, args.device, progress)
    world, sub = base.data, args.subdomain
    saes, meta, selection = train_all(args, base, ws, progress)
    long = sae_concept_f1(base.model, base.hook_name, world, saes, progress)
    tok = base.tokenizer
    general = world.split_tokens("general_test")  # the text forgetting is measured on
    metrics = {
        split: evaluate_saes(
            base.model, saes, base.hook_name, docs, tok.bos_token_id, tok.pad_token_id
        )
        for split, docs in (("general", general), (sub, world.split_tokens(f"{sub}_test")))
    }
    general_domains = set(world.concepts.domain[~world.concepts.subdomain])
    probe, _ = recall(long, "linear probe", {sub}, TAIL_RARE)
    rows = []
    for name, sae in saes.items():
        got, total = recall(long, name, {sub}, TAIL_RARE)
        kept, head = recall(long, name, general_domains, HEAD_MID)
        option, seed, l1, seconds = meta[name]
        row = {"sae": name, "option": option, "seed": seed, "l1": l1, "tail_rare": got}
        row |= {"tail_rare_of": total, "of_probe": got / max(probe, 1), "head_mid": kept}
        row["head_mid_of"] = head
        g, s = metrics["general"][name], metrics[sub][name]
        row |= {"general_l0": g.l0, "general_ce_rec": g.ce_loss_recovered}
        row |= {"sub_l0": s.l0, "sub_ce_spliced": s.ce_spliced, "d_sae": sae.cfg.d_sae}
        table = latent_changes(base.sae.W_dec.detach(), sae.W_dec.detach())
        novel = set(table.feature[table.kind == "novel"])
        row |= {"novel": len(novel), "novel_best": novel_detectors(long, name, novel)}
        rows.append(row | {"seconds": seconds})
    rows = pd.DataFrame(rows)
    rows["ce_vs_general_at_l0"] = matched_ce(rows)
    print(f"selection precision {selection.get('precision')}; probe {probe}/{total}")
    print(rows.drop(columns=["sae"]).to_string(index=False, float_format="{:.3f}".format))
    by = rows[rows.option != "GSAE"].groupby(["option", "l1"])
    print(by[["of_probe", "head_mid", "general_l0", "sub_l0", "novel_best"]].agg(["mean", "min"]))
    if args.out:
        payload = {"args": vars(args), "selection": selection, "probe": probe}
        payload["rows"] = rows.to_dict("records")
        Path(args.out).write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
