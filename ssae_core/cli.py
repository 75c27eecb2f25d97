"""Command line: ``python -m ssae_core <command> ...``.

Every command takes ``--workspace DIR`` (default ``$SSAE_WORKSPACE`` or ``cache/``),
prints a human summary, or JSON with ``--json``, and exits 1 with one clear message on
a user error (bad input, unwritable workspace, unknown model) instead of a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable

from ssae_core.errors import SSAEError
from ssae_core.progress import Silent, Tqdm
from ssae_core.workspace import Workspace


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)  # a cancelled job ends like Ctrl-C
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    args.reporter = _job_reporter(args)
    try:
        code = args.run(args) or 0
    except SSAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _finish(args, "failed", str(exc))
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted: finished artifacts are kept; run the same command again to resume.",
            file=sys.stderr,
        )
        _finish(args, "cancelled")
        return 130
    except Exception as exc:
        _finish(args, "failed", f"{type(exc).__name__}: {exc}")
        raise
    _finish(args, "done" if code == 0 else "failed", None if code == 0 else f"exit status {code}")
    return code


def _job_reporter(args):
    """The job row this worker reports into (``--job``, set by ``jobs.launch``), else None."""
    if not getattr(args, "job", None):
        return None
    from ssae_core.jobs import JobProgress

    return JobProgress(Workspace(args.workspace), args.job)


def _finish(args, state: str, error: str | None = None) -> None:
    if args.reporter is not None:
        args.reporter.finish(state, error)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ssae_core", description="SSAE Studio engine.")
    sub = parser.add_subparsers(title="commands")
    demo = sub.add_parser("demo", help="the embedded demo world").add_subparsers(
        title="demo commands"
    )
    build = demo.add_parser("build", help="build (or reuse) the demo world and print its summary")
    _common(build)
    build.add_argument(
        "--quick", action="store_true", help="the miniature world used by tests (<1 min)"
    )
    build.set_defaults(run=_demo_build)
    ssaes = demo.add_parser(
        "ssaes", help="the demo comparison: a selection and ERM + TERM sweeps for a subdomain"
    )
    _common(ssaes)
    ssaes.add_argument("--quick", action="store_true", help="the miniature world and short sweeps")
    ssaes.add_argument("--subdomain", default="physics", choices=["physics", "medicine"])
    ssaes.add_argument("--method", default="bm25", choices=selection_methods())
    ssaes.set_defaults(run=_demo_ssaes)

    sel = sub.add_parser("select", help="expand a seed set into a training selection from a corpus")
    _common(sel)
    _base_options(sel)
    sel.add_argument(
        "--seeds",
        required=True,
        help="seed texts: a file or folder, or demo:SUBDOMAIN (e.g. demo:physics)",
    )
    sel.add_argument(
        "--corpus",
        default="demo",
        help="corpus: a file or folder, or demo (the demo world's general corpus)",
    )
    sel.add_argument("--method", default="dense", choices=selection_methods())
    sel.add_argument("--tokens", type=int, default=50_000, help="token budget of the selection")
    sel.add_argument(
        "--combine",
        default="mean",
        choices=["mean", "max"],
        help="how seed documents' scores combine",
    )
    sel.add_argument(
        "--pool-fraction",
        type=float,
        default=0.01,
        help="TracIn: share of the corpus the first stage keeps",
    )
    sel.add_argument(
        "--encoder",
        default="all-MiniLM-L6-v2",
        help="sentence-transformers model for dense retrieval",
    )
    sel.add_argument(
        "--text-field", default="text", help="jsonl field / csv or parquet column holding the text"
    )
    sel.set_defaults(run=_select)

    ft = sub.add_parser(
        "finetune",
        help="finetune the GSAE on a selection into SSAEs (ERM or TERM, a sparsity sweep)",
    )
    _common(ft)
    _base_options(ft)
    ft.add_argument(
        "--selection",
        required=True,
        help="a selection artifact: its directory, or selection/KEY inside the workspace",
    )
    ft.add_argument("--objective", default="erm", choices=["erm", "term"])
    ft.add_argument(
        "--tilt", type=float, default=0.0, help="TERM's tilt t (the paper: 500 and larger)"
    )
    ft.add_argument(
        "--l1",
        default="3.5",
        help=(
            "comma-separated sparsity values, one SSAE each: L1 coef (standard), L0 coef (jumprelu)"
            " or k (topk)"
        ),
    )
    ft.add_argument("--steps", type=int, default=1000)
    ft.add_argument(
        "--item",
        default="token",
        choices=["token", "sequence"],
        help="what one loss term of the objective is",
    )
    ft.add_argument("--batch-tokens", type=int, default=4096)
    ft.add_argument("--lr", type=float, default=5e-5)
    ft.add_argument(
        "--decay-steps",
        type=int,
        default=1000,
        help="linear LR decay over the last this many steps",
    )
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument(
        "--cache-dtype",
        default="float32",
        choices=["float32", "float16"],
        help="how the activation cache is stored",
    )
    ft.add_argument(
        "--background",
        action="store_true",
        help="run as a background job (one training job per device; others queue)",
    )
    ft.set_defaults(run=_finetune)

    for name, run, helptext in (
        (
            "evaluate",
            _evaluate,
            "metrics of the GSAE and SSAEs on test splits (perplexity spliced in, L0, ...)",
        ),
        ("report", _report, "an offline HTML report with every comparison figure"),
    ):
        ev = sub.add_parser(name, help=helptext)
        _sae_options(ev)
        ev.add_argument(
            "--split",
            action="append",
            default=[],
            help=(
                "a demo split (physics_test, physics_ood, ...) or a text file/folder; repeat; the"
                " first is in-domain"
            ),
        )
        ev.set_defaults(run=run)
        if name == "report":
            ev.add_argument(
                "--out", default="ssae-report.html", help="where to write the HTML report"
            )
            ev.add_argument(
                "--l0-range",
                default="",
                help="LO,HI: the L0 range of the AUC (default: where all curves overlap)",
            )

    er = sub.add_parser(
        "errors", help="dark matter: per-token SAE error norms, linear / nonlinear error, R² tables"
    )
    _sae_options(er, gsae_flag=False)
    er.add_argument(
        "--widths",
        default="",
        help="demo world: GSAE expansions to train and add, e.g. 2,4,16 (width series)",
    )
    source = er.add_mutually_exclusive_group(required=True)
    source.add_argument("--split", help="a demo split (physics_test, ...) or a text file/folder")
    source.add_argument("--text", help="the text itself")
    er.add_argument(
        "--max-tokens",
        type=int,
        default=50_000,
        help="use at most this many tokens (first documents first)",
    )
    er.add_argument("--out", default="ssae-errors.html", help="where to write the figures")
    er.set_defaults(run=_errors)

    ai = sub.add_parser(
        "autointerp",
        help=(
            "explain features with an LLM (or the offline baseline) and score the explanations"
            " by F1"
        ),
    )
    _sae_options(ai)
    ai.add_argument(
        "--split",
        required=True,
        help="where examples come from: a demo split (physics_test, ...) or a text file/folder",
    )
    ai.add_argument(
        "--features",
        type=int,
        default=20,
        help="random features live in every SAE (the same ones for all)",
    )
    ai.add_argument("--seed", type=int, default=0)
    ai.add_argument(
        "--backend",
        choices=["offline", "claude"],
        default="offline",
        help="claude needs ANTHROPIC_API_KEY; offline is a no-network baseline",
    )
    ai.add_argument("--model", default="claude-sonnet-5", help="Claude model id")
    ai.add_argument("--concurrency", type=int, default=8)
    ai.add_argument(
        "--budget-usd",
        type=float,
        default=0.0,
        help="stop starting features once this much is spent (0: no cap)",
    )
    ai.add_argument(
        "--estimate", action="store_true", help="print the token and cost estimate and stop"
    )
    ai.add_argument(
        "--batches",
        action="store_true",
        help="claude: use the Message Batches API (half price; results within hours)",
    )
    ai.add_argument("--out", default="", help="write the results table here (.csv or .json)")
    ai.set_defaults(run=_autointerp)

    st = sub.add_parser(
        "study",
        help=(
            "the demo-world study: the whole recipe per subdomain and seed, and which of the"
            " papers' claims hold"
        ),
    )
    _common(st)
    st.add_argument(
        "--quick",
        action="store_true",
        help="the miniature world and short sweeps (a few minutes; checks structure, not claims)",
    )
    st.add_argument(
        "--out",
        default="",
        help=(
            "where STUDY.md, study.json and report.html go (default: study/, or study/quick/ with"
            " --quick)"
        ),
    )
    st.add_argument(
        "--subdomains", default="", help="comma-separated (default: all of the config's)"
    )
    st.add_argument("--seeds", default="", help="comma-separated integers (default: 0,1,2)")
    st.add_argument(
        "--backend",
        choices=["auto", "offline", "claude"],
        default="auto",
        help="autointerp: auto = claude when an API key is set, else the offline baseline",
    )
    st.add_argument("--model", default="claude-sonnet-5", help="Claude model id")
    st.add_argument("--background", action="store_true", help="run as a background job")
    st.set_defaults(run=_study)

    jb = sub.add_parser("jobs", help="background jobs of the workspace").add_subparsers(
        title="jobs commands"
    )
    for name, run, helptext in (
        ("list", _jobs_list, "every job, newest first"),
        ("show", _jobs_show, "one job's state, progress and log"),
        ("cancel", _jobs_cancel, "stop a running or queued job"),
    ):
        p = jb.add_parser(name, help=helptext)
        _common(p)
        if name != "list":
            p.add_argument("name")
        p.set_defaults(run=run)
    return parser


def _sae_options(p: argparse.ArgumentParser, gsae_flag: bool = True) -> None:
    """Options of the commands that work on the GSAE and SSAEs over test texts."""
    _common(p)
    _base_options(p)
    p.add_argument(
        "--ssae",
        action="append",
        default=[],
        help="a finetuning artifact (directory or ssae/KEY); repeat for several",
    )
    p.add_argument(
        "--text-field", default="text", help="jsonl field / csv or parquet column holding the text"
    )
    if gsae_flag:
        p.add_argument("--no-gsae", action="store_true", help="leave the GSAE out")


def selection_methods() -> tuple[str, ...]:
    from ssae_core.selection import METHODS

    return METHODS


def _base_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--base",
        default="demo",
        choices=["demo", "release", "local"],
        help="where the LM and GSAE come from",
    )
    p.add_argument("--quick", action="store_true", help="demo base: the miniature world")
    p.add_argument("--model-name", default="", help="release: TransformerLens model name")
    p.add_argument("--release", default="", help="release: SAELens release, e.g. gpt2-small-res-jb")
    p.add_argument("--sae-id", default="", help="release: SAE id inside the release")
    p.add_argument("--model-dir", default="", help="local: model directory")
    p.add_argument("--sae-dir", default="", help="local: SAE directory (SAELens format)")


def _base_spec(args):
    from ssae_core.base import BaseSpec

    return BaseSpec(
        source=args.base,
        quick=args.quick,
        model_name=args.model_name,
        release=args.release,
        sae_id=args.sae_id,
        model_dir=args.model_dir,
        sae_dir=args.sae_dir,
    )


def _select(args) -> int:
    from ssae_core import data, selection
    from ssae_core.base import load_base
    from ssae_core.select_artifact import load_selection, run_selection

    ws = Workspace(args.workspace)
    cfg = selection.SelectionConfig(
        method=args.method,
        token_budget=args.tokens,
        combine=args.combine,
        pool_fraction=args.pool_fraction,
        encoder=args.encoder,
    ).validate()
    with _progress(args) as progress:
        base = load_base(_base_spec(args), ws, args.device, progress)
        ingest = data.IngestConfig(text_field=args.text_field)
        world = base.world
        seeds = _texts(args.seeds, world, ingest, "seeds")
        corpus = _texts(args.corpus, world, ingest, "corpus")
        sub = args.seeds.split(":", 1)[1] if args.seeds.startswith("demo:") else None
        truth = world.in_domain(sub) if sub and args.corpus == "demo" else None
        art = run_selection(cfg, seeds, corpus, base, ws, truth, progress)
    table = load_selection(art)
    top = [
        {
            "rank": int(r.rank),
            "doc_id": str(r.doc_id),
            "score": float(r.score),
            "snippet": r.text[:100],
        }
        for r in table.head(5).itertuples()
    ]
    _emit(
        {
            **art.summary,
            "path": str(art.path),
            "seeds": seeds.report,
            "corpus": corpus.report,
            "top": top,
        },
        args.json,
        _format_selection,
    )
    return 0


def _finetune(args) -> int:
    from ssae_core import selection, train
    from ssae_core.activations import CacheConfig, cache_activations
    from ssae_core.base import load_base
    from ssae_core.select_artifact import load_selection

    ws = Workspace(args.workspace)
    cfg = train.FinetuneConfig(
        objective=args.objective,
        tilt=args.tilt,
        item=args.item,
        sparsity=_floats(args.l1, "--l1"),
        steps=args.steps,
        batch_tokens=args.batch_tokens,
        lr=args.lr,
        decay_steps=args.decay_steps,
        seed=args.seed,
    ).validate()
    sel_art = _open_artifact(ws, args.selection, "selection")
    if args.background:
        return _launch_training_job(
            args,
            ws,
            f"finetune-{ws.key_for('ssae', cfg, [sel_art.ref])[:10]}",
            ["--selection", str(sel_art.path)],
        )
    with _progress(args) as progress:
        base = load_base(_base_spec(args), ws, args.device, progress)
        texts = load_selection(sel_art).text.tolist()
        tokens = selection.tokenize(texts, base.tokenizer, base.model.cfg.n_ctx)
        acts = cache_activations(
            ws, base, tokens, sel_art.ref, CacheConfig(args.cache_dtype), progress
        )
        art = train.finetune(ws, base.sae, base.ref, acts, cfg, args.device, progress)
    _emit(
        {**art.summary, "path": str(art.path), "activations": str(acts.path)},
        args.json,
        _format_finetune,
    )
    return 0


def _comparison_inputs(args, progress):
    """(workspace, base, SAEs, splits) named by the evaluate / report options."""
    from ssae_core.base import load_base
    from ssae_core.errors import ConfigError
    from ssae_core.evaluate import sae_set

    ws = Workspace(args.workspace)
    base = load_base(_base_spec(args), ws, args.device, progress)
    if not args.split:
        raise ConfigError(
            "Give at least one --split: a demo split such as physics_test, or a file of test texts."
        )
    saes = sae_set(
        ws, base, [_open_artifact(ws, spec, "ssae") for spec in args.ssae], not args.no_gsae
    )
    if not saes:
        raise ConfigError("Nothing to evaluate: give --ssae, or drop --no-gsae.")
    return ws, base, saes, [_token_split(spec, base, args) for spec in args.split]


def _token_split(spec: str, base, args):
    from ssae_core.evaluate import token_split

    return token_split(spec, base, args.text_field)


def _evaluate(args) -> int:
    from ssae_core.compare import metrics_table
    from ssae_core.evaluate import evaluate

    with _progress(args) as progress:
        ws, base, saes, splits = _comparison_inputs(args, progress)
        evals = {split.name: evaluate(ws, base, saes, split, progress=progress) for split in splits}
    table = metrics_table(evals, saes)
    _emit({"metrics": table.to_dict("records")}, args.json, lambda s: _format_metrics(table))
    return 0


def _format_metrics(table) -> str:
    from ssae_core.report import REPORT_COLUMNS

    return table[REPORT_COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _report(args) -> int:
    from pathlib import Path

    from ssae_core.report import compare_saes, to_html
    from ssae_core.workspace import atomic_write_bytes

    lo, hi = _floats(args.l0_range, "--l0-range") if args.l0_range else (None, None)
    with _progress(args) as progress:
        ws, base, saes, splits = _comparison_inputs(args, progress)
        result = compare_saes(ws, base, saes, splits, lo, hi, progress=progress)
    out = Path(args.out).resolve()
    atomic_write_bytes(out, to_html(result).encode())
    numbers = result.numbers()
    _emit(
        {"report": str(out), **numbers},
        args.json,
        lambda s: (
            f"{_format_metrics(result.metrics)}\n\nAUC of perplexity vs"
            f" L0:\n{result.auc.to_string(index=False)}\n\nreport: {out}"
        ),
    )
    return 0


def _errors(args) -> int:
    from pathlib import Path

    import numpy as np

    from ssae_core import dark_matter as dm
    from ssae_core import plots, selection
    from ssae_core.activations import collect, kept_counts, kept_tokens, pad_id
    from ssae_core.base import load_base
    from ssae_core.errors import ConfigError
    from ssae_core.evaluate import NamedSAE, sae_set
    from ssae_core.report import page
    from ssae_core.workspace import atomic_write_bytes

    ws = Workspace(args.workspace)
    with _progress(args) as progress:
        base = load_base(_base_spec(args), ws, args.device, progress)
        saes = sae_set(ws, base, [_open_artifact(ws, spec, "ssae") for spec in args.ssae])
        if args.widths:
            if base.world is None:
                raise ConfigError(
                    "--widths trains GSAEs of other widths in the demo world; use --base demo."
                )
            from ssae_core.demo.world import gsae_widths

            widths = gsae_widths(
                base.world, [int(v) for v in _floats(args.widths, "--widths")], ws, progress
            )
            saes += [
                NamedSAE(f"width/{d}", f"GSAE d_sae={d}", sae, "GSAE widths")
                for d, sae in widths.items()
                if d != base.sae.cfg.d_sae
            ]
        if args.text:
            docs, labels = (
                selection.tokenize([args.text], base.tokenizer, base.model.cfg.n_ctx),
                None,
            )
        else:
            split = _token_split(args.split, base, args)
            docs, labels = (
                split.docs,
                (
                    base.world.split_labels(args.split)
                    if base.world is not None and not Path(args.split).exists()
                    else None
                ),
            )
        n_docs = max(
            1,
            int(
                np.searchsorted(
                    np.cumsum(kept_counts(docs, base.model.cfg.n_ctx)),
                    args.max_tokens,
                    side="right",
                )
            ),
        )
        docs = docs[:n_docs]
        tok = base.tokenizer
        x, _, _ = collect(base.model, base.hook_name, docs, tok.bos_token_id, pad_id(tok))
    if len(x) < 10:
        raise ConfigError(
            f"Only {len(x)} tokens: the R² fits need at least 10; give a longer text or a split."
        )
    ids = kept_tokens(docs, base.model.cfg.n_ctx)
    named = {s.label: s.sae for s in saes}
    result = dm.analyze(named, x, ids)
    norms = dm.error_norms(named, x)
    tables = {
        "R² of the dark-matter fits (held-out tokens)": result["r2"],
        "Per-token error norm of one SAE predicted from another's (Eq. 5)": result["cross"],
    }
    words = tok.convert_ids_to_tokens(ids.tolist())
    if "GSAE" in named and len(named) > 1:
        tables["Tokens each SAE fixed or broke most vs the GSAE"] = dm.fixed_and_broken(
            norms, words, "GSAE"
        )
    if labels is not None:
        flat = np.concatenate([np.asarray(lab[: len(d)]) for lab, d in zip(labels[:n_docs], docs)])
        tables["Relative error by concept frequency (demo ground truth)"] = (
            dm.error_by_concept_bucket(norms, flat, base.world.concepts)
        )
    first = norms[norms.token_index < min(len(x), 120)]
    figures = {
        "heatmap": plots.error_heatmap(first, words),
        "fvu": plots.fvu_breakdown(result["r2"]),
    }
    if len(result["cross"]):
        c = result["cross"].iloc[0]
        figures["cross"] = plots.cross_scatter(result["tokens"], c["from"], c["to"], c["r2"])
    out = Path(args.out).resolve()
    atomic_write_bytes(out, page("SSAE Studio: SAE dark matter", tables, figures).encode())
    numbers = {k: v.to_dict("records") for k, v in tables.items()}
    _emit(
        {
            "figures": str(out),
            "tokens": int(len(x)),
            "r2": result["r2"].to_dict("records"),
            "cross": result["cross"].to_dict("records"),
            "tables": numbers,
        },
        args.json,
        lambda s: (
            f"{result['r2'].to_string(index=False, float_format=lambda v: f'{v:.3f}')}\n\n{result['cross'].to_string(index=False, float_format=lambda v: f'{v:.3f}')}\n\nfigures:"
            f" {out}"
        ),
    )
    return 0


def _autointerp(args) -> int:
    from pathlib import Path

    from ssae_core.autointerp.backends import ClaudeBackend, ClaudeConfig, OfflineBackend
    from ssae_core.autointerp.run import (
        AutointerpConfig,
        estimate,
        prepare,
        results_table,
        run_autointerp,
    )

    cfg = AutointerpConfig(n_features=args.features, seed=args.seed, budget_usd=args.budget_usd)
    claude = ClaudeConfig(model=args.model, concurrency=args.concurrency)
    with _progress(args) as progress:
        args.split = [args.split]
        ws, base, saes, (split,) = _comparison_inputs(args, progress)
        examples = prepare(ws, base, saes, split, cfg, progress)
        cost = estimate([fx for fxs in examples.values() for fx in fxs], claude, args.batches)
        if args.estimate:
            _emit(
                cost,
                args.json,
                lambda c: (
                    f"{c['features']} feature scorings: about {c['input_tokens']:,} input and at"
                    f" most {c['output_tokens']:,} output tokens, at most ${c['usd']:.2f} with"
                    f" {claude.model}"
                ),
            )
            return 0
        backend = ClaudeBackend(claude) if args.backend == "claude" else OfflineBackend()
        results = run_autointerp(
            ws,
            examples,
            backend,
            cfg,
            claude,
            progress,
            batches=args.batches and args.backend == "claude",
        )
    table = results_table(results, {s.ref: s.label for s in saes})
    if args.out:
        out = Path(args.out)
        (
            table.to_json(out, orient="records", indent=1)
            if out.suffix == ".json"
            else table.to_csv(out, index=False)
        )
    summary = table.groupby("label", sort=False).f1.agg(["count", "mean", "median"]).reset_index()
    _emit(
        {
            "backend": backend.label,
            "estimate": cost,
            "summary": summary.to_dict("records"),
            "results": table.to_dict("records"),
        },
        args.json,
        lambda s: (
            (
                "backend"
                f" {s['backend']}\n{summary.to_string(index=False, float_format=lambda v: f'{v:.3f}')}"
            )
            + (f"\nresults: {args.out}" if args.out else "")
        ),
    )
    return 0


def _study(args) -> int:
    from pathlib import Path

    from ssae_core.autointerp.backends import (
        ClaudeBackend,
        ClaudeConfig,
        OfflineBackend,
        find_api_key,
    )
    from ssae_core.study import StudyConfig, run_study

    cfg = StudyConfig.quick_config() if args.quick else StudyConfig()
    if args.subdomains:
        cfg = cfg.replace(
            subdomains=tuple(v.strip() for v in args.subdomains.split(",") if v.strip())
        )
    if args.seeds:
        cfg = cfg.replace(seeds=tuple(int(v) for v in _floats(args.seeds, "--seeds")))
    cfg.validate()
    ws = Workspace(args.workspace)
    out = Path(args.out or ("study/quick" if args.quick else "study")).resolve()
    if args.background:
        return _launch_training_job(args, ws, f"study-{cfg.digest()[:10]}", ["--out", str(out)])
    use_claude = args.backend == "claude" or (args.backend == "auto" and find_api_key() is not None)
    backend = ClaudeBackend(ClaudeConfig(model=args.model)) if use_claude else OfflineBackend()
    with _progress(args) as progress:
        paths = run_study(ws, cfg, backend, out, args.device, progress)
    _emit(
        {k: str(v) for k, v in paths.items()},
        args.json,
        lambda s: "\n".join(f"{k}: {v}" for k, v in s.items()),
    )
    return 0


def _launch_training_job(args, ws: Workspace, name: str, extra: list[str]) -> int:
    """Queue this command (without --background, with ``extra``) as job ``name`` in the device's
    training slot."""
    from ssae_core import jobs
    from ssae_core.device import pick_device

    device = str(pick_device(args.device))
    argv = [a for a in args.argv if a != "--background"] + ["--device", device, *extra]
    state = jobs.launch(ws, name, argv, resource=f"train:{device}")
    _emit(
        {"job": name, "state": state["state"]},
        args.json,
        lambda s: f"job {s['job']}: {s['state']}  (python -m ssae_core jobs show {s['job']})",
    )
    return 0


def _floats(text: str, flag: str) -> tuple[float, ...]:
    from ssae_core.errors import ConfigError

    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"{flag} takes comma-separated numbers, e.g. 1,2.5,5; got {text!r}."
        ) from None


def _open_artifact(ws: Workspace, spec: str, kind: str):
    """An artifact from its directory or ``kind/KEY`` in the workspace; a clear error otherwise."""
    from pathlib import Path

    from ssae_core.errors import ConfigError

    path = Path(spec) if Path(spec).is_dir() else ws.root / spec
    if not (path / "manifest.json").exists():
        raise ConfigError(
            f"No {kind} artifact at {spec!r}: give its directory or {kind}/KEY (see"
            f" {ws.root / kind})."
        )
    art = ws.open(path)
    if art.kind != kind:
        raise ConfigError(f"{spec!r} is a {art.kind} artifact, not a {kind}.")
    return art


def _format_finetune(s: dict) -> str:
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


def _jobs_list(args) -> int:
    from ssae_core import jobs

    rows = [
        {k: j[k] for k in ("name", "state", "stage", "done", "total", "eta_s")}
        for j in jobs.list_jobs(Workspace(args.workspace))
    ]
    _emit(
        {"jobs": rows}, args.json, lambda s: "\n".join(_job_line(j) for j in s["jobs"]) or "no jobs"
    )
    return 0


def _job_line(j: dict) -> str:
    progress = f"{j['done']}/{j['total']}" if j["total"] else str(j["done"] or "")
    eta = f"  ETA {j['eta_s']:.0f} s" if j.get("eta_s") else ""
    return f"{j['name']:<28} {j['state']:<10} {j['stage'] or ''} {progress}{eta}"


def _jobs_show(args) -> int:
    from ssae_core import jobs
    from ssae_core.errors import ConfigError

    job = jobs.status(Workspace(args.workspace), args.name)
    if job is None:
        raise ConfigError(f"No job named {args.name!r}; see python -m ssae_core jobs list.")
    _emit(
        job,
        args.json,
        lambda j: "\n".join(
            [_job_line(j), *j["log"][-10:], *([f"error: {j['error']}"] if j["error"] else [])]
        ),
    )
    return 0


def _jobs_cancel(args) -> int:
    from ssae_core import jobs

    stopped = jobs.cancel(Workspace(args.workspace), args.name)
    _emit(
        {"name": args.name, "cancelled": stopped},
        args.json,
        lambda s: f"{s['name']}: " + ("cancel sent" if s["cancelled"] else "not running or queued"),
    )
    return 0


def _texts(spec: str, world, ingest, role: str):
    """Seeds or corpus from ``demo:SUBDOMAIN`` / ``demo`` (the demo world) or a path."""
    from ssae_core import data
    from ssae_core.errors import ConfigError

    if spec == "demo" or spec.startswith("demo:"):
        if world is None:
            raise ConfigError(
                f"{role} {spec!r} needs the demo base (--base demo); give a file or folder"
                " otherwise."
            )
        return world.text_set(f"{spec.split(':', 1)[1]}_seed" if ":" in spec else "general")
    return data.load_texts(spec, ingest)


def _format_selection(s: dict) -> str:
    lines = [
        (
            f"Selection ({s['method']}): {s['documents']} documents, {s['tokens']} tokens  "
            f" {s['path']}"
        ),
        (
            f"  seeds: {s['seeds']['documents']} documents from {s['seeds']['source']}; corpus:"
            f" {s['corpus']['documents']} documents from {s['corpus']['source']}"
        ),
    ]
    if "precision" in s:
        lines.append(
            "  precision (share of selected documents truly in the subdomain):"
            f" {s['precision']:.1%}"
        )
    lines.append("  timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in s["timings"].items()))
    lines += [f"  #{t['rank']:<3} {t['score']:9.4f}  {t['snippet']}" for t in s["top"]]
    return "\n".join(lines)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", help="artifact directory (default: $SSAE_WORKSPACE or ./cache)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument(
        "--job", help=argparse.SUPPRESS
    )  # set by jobs.launch: report into this job's row


def _demo_build(args) -> int:
    from ssae_core.demo import world as demo_world

    cfg = demo_world.DemoConfig.quick() if args.quick else demo_world.DemoConfig()
    start = time.time()
    with _progress(args) as progress:
        world = demo_world.build(cfg, Workspace(args.workspace), args.device, progress)
    summary = demo_summary(world, time.time() - start)
    _emit(summary, args.json, format_demo_summary)
    return 0


def _demo_ssaes(args) -> int:
    from ssae_core.base import BaseSpec, load_base
    from ssae_core.demo import comparison

    cfg = (
        comparison.DemoComparisonConfig.quick() if args.quick else comparison.DemoComparisonConfig()
    ).replace(subdomain=args.subdomain, method=args.method)
    ws = Workspace(args.workspace)
    with _progress(args) as progress:
        arts = comparison.build(
            load_base(BaseSpec(quick=args.quick), ws, args.device, progress), ws, cfg, progress
        )
    _emit(
        {k: str(a.path) for k, a in arts.items()},
        args.json,
        lambda s: "\n".join(f"{k}: {v}" for k, v in s.items()),
    )
    return 0


@contextlib.contextmanager
def _progress(args):
    """tqdm bars, nothing (--json), or the job's row when running as a job (``main`` marks
    its end)."""
    if args.reporter is not None:
        yield args.reporter
        return
    progress = Silent() if args.json else Tqdm()
    yield progress
    progress.close()


def demo_summary(world, seconds: float) -> dict:
    """The numbers a researcher checks first about a demo world."""
    report = world.report
    return {
        "workspace": str(world.corpus_art.path.parent.parent),
        "seconds": round(seconds, 2),
        "hook_name": world.hook_name,
        "corpus": world.corpus_art.summary,
        "lm": {**report["lm"], "path": str(world.model_dir)},
        "gsae": {**report["gsae"], "path": str(world.gsae_dir)},
        "recall_by_bucket": report["recall_by_bucket"],
    }


def format_demo_summary(s: dict) -> str:
    lm, g = s["lm"], s["gsae"]
    lines = [
        f"Demo world ready in {s['seconds']:.1f} s  (workspace {s['workspace']})",
        (
            f"  corpus: {s['corpus']['documents']} documents, {s['corpus']['words']} tokens,"
            f" {s['corpus']['concepts']} concepts"
        ),
        (
            f"  LM: held-out CE {lm['heldout_ce']:.3f} nats vs unigram {lm['unigram_ce']:.3f} "
            f"({lm['ce_ratio_to_unigram']:.0%} of unigram)   {lm['path']}"
        ),
        (
            f"  GSAE at {s['hook_name']} (d_sae {g['d_sae']}): L0 {g['l0']:.1f} (target <="
            f" {g['l0_target_max']:.0f}), explained variance {g['explained_variance']:.3f}, dead"
            f" {g['dead_fraction']:.1%}"
        ),
        (
            f"    CE clean {g['ce_clean']:.3f}, with GSAE {g['ce_spliced']:.3f}, zero-ablated"
            f" {g['ce_zero_ablation']:.3f}, CE loss recovered {g['ce_loss_recovered']:.3f}  "
            f" {g['path']}"
        ),
        (
            "  concepts with a GSAE feature of F1 >= 0.5 (and with a linear probe), by frequency in"
            " the general corpus:"
        ),
    ]
    for row in s["recall_by_bucket"]:
        lines.append(
            f"    {row['bucket']:<18} {int(row['gsae_recalled']):>3}/{int(row['concepts']):<3} SAE"
            f" ({row['gsae_recall']:.0%})  "
            f" {int(row['probe_recalled']):>3}/{int(row['concepts']):<3} probe"
            f" ({row['probe_recall']:.0%})"
        )
    return "\n".join(lines)


def _emit(obj: dict, as_json: bool, fmt: Callable[[dict], str]) -> None:
    print(json.dumps(obj, indent=2, default=float) if as_json else fmt(obj))
