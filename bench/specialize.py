"""Specialization against forgetting, one finetuning option per row, side by side.

    python bench/specialize.py --workspace DIR [--subdomain physics] [--tokens 300000]
        [--method bm25] [--options short,plain,extend,reaim] [--steps 2000] [--term extend]
        [--device cpu] [--out FILE.json]

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
  as their best detector (F1 >= 0.5).

Options: ``short`` is the demo comparison's budget (300 steps, lr 1e-4); ``plain`` finetunes every
latent for ``--steps`` at lr 3e-4; ``extend`` adds ``--extend`` latents on the frozen GSAE's
residual (lr 1e-3); ``resample`` is ``plain`` with Anthropic's resampling of latents silent for
250 steps; ``reaim`` re-aims the latents silent on the selection at the start and every 250 steps
at residual errors, with a bias that keeps L0 near its value. ``--term`` runs the options it names
with TERM too (target ESS 0.5).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ssae_core.demo  # noqa: E402, F401 (registers the demo base source)
from ssae_core.analysis.specialization import latent_changes  # noqa: E402
from ssae_core.evaluate.concepts import BUCKETS, sae_concept_f1  # noqa: E402
from ssae_core.evaluate.metrics import evaluate_saes  # noqa: E402
from ssae_core.infra.progress import Tqdm  # noqa: E402
from ssae_core.infra.workspace import Workspace  # noqa: E402
from ssae_core.models.base import BaseSpec, load_base  # noqa: E402
from ssae_core.select.retrieval import SelectionConfig  # noqa: E402
from ssae_core.select.selection import run_selection, selection_activations  # noqa: E402
from ssae_core.train.finetune import FinetuneConfig, finetune, load_ssaes  # noqa: E402

HEAD_MID, TAIL_RARE = BUCKETS[:2], BUCKETS[-2:]


def options(args, l1: float) -> dict[str, FinetuneConfig]:
    long = dict(steps=args.steps, batch_tokens=4096, sparsity=(l1,), decay_steps=args.steps // 5)
    found = {
        "short": FinetuneConfig.short((l1,), 300, 4096, 1e-4),
        "plain": FinetuneConfig(lr=3e-4, **long),
        "extend": FinetuneConfig(lr=1e-3, extend=args.extend, **long),
        "resample": FinetuneConfig(lr=3e-4, resample_every=250, **long),
        "reaim": FinetuneConfig(lr=3e-4, resample_every=250, reaim=True, **long),
    }
    picked = {name: found[name] for name in args.options.split(",")}
    term = dict(objective="term", target_ess=0.5)
    for name in filter(None, args.term.split(",")):
        picked[f"{name} TERM"] = found[name].replace(**term)
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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workspace", required=True)
    p.add_argument("--subdomain", default="physics")
    p.add_argument("--tokens", type=int, default=300_000)
    p.add_argument("--method", default="bm25")
    p.add_argument("--options", default="short,plain,extend,reaim")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--extend", type=int, default=512)
    p.add_argument("--term", default="", help="options also run with TERM, e.g. extend,plain")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out")
    args = p.parse_args()
    ws, progress = Workspace(args.workspace), Tqdm()
    base = load_base(BaseSpec(), ws, args.device, progress)
    world, sub = base.data, args.subdomain
    seeds, corpus = world.text_set(f"{sub}_seed"), world.text_set(world.corpus_split)
    sel_cfg = SelectionConfig(method=args.method, token_budget=args.tokens)
    start = time.time()
    sel = run_selection(sel_cfg, seeds, corpus, base, ws, world.in_domain(sub), progress)
    acts = selection_activations(ws, base, sel, progress=progress)
    print(f"selection: {sel.summary.get('precision')} precision, {time.time() - start:.0f} s")
    l1 = world.config.gsae.sparsity
    saes, seconds = {"GSAE": base.sae}, {}
    for name, cfg in options(args, l1).items():
        start = time.time()
        art = finetune(ws, base.sae, base.ref, acts, cfg, args.device, progress)
        saes[name], seconds[name] = load_ssaes(art, args.device)[0], time.time() - start
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
    rows = []
    for name, sae in [*saes.items(), ("linear probe", None)]:
        key = "linear probe" if sae is None else name
        got, total = recall(long, key, {sub}, TAIL_RARE)
        kept, head = recall(long, key, general_domains, HEAD_MID)
        row = {"sae": name, "tail_rare": got, "tail_rare_of": total, "head_mid": kept}
        row["head_mid_of"] = head
        if sae is not None:
            g, s = metrics["general"][name], metrics[sub][name]
            row |= {"general_l0": g.l0, "general_ce_rec": g.ce_loss_recovered}
            row |= {"sub_l0": s.l0, "sub_ce_spliced": s.ce_spliced, "d_sae": sae.cfg.d_sae}
            table = latent_changes(base.sae.W_dec.detach(), sae.W_dec.detach())
            novel = set(table.feature[table.kind == "novel"])
            row |= {"novel": len(novel), "novel_best": novel_detectors(long, key, novel)}
            row["seconds"] = seconds.get(name, 0.0)
        rows.append(row)
    if args.out:
        payload = {"args": vars(args), "selection": sel.summary, "rows": rows}
        Path(args.out).write_text(json.dumps(payload, indent=2, default=float))
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
