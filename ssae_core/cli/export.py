"""``export neuronpedia``: an SAE's features, examples and explanations for a self-hosted
Neuronpedia."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssae_core.cli import common
from ssae_core.infra.config import add_options, from_args
from ssae_core.infra.workspace import Workspace

NEURONPEDIA_HELP = "write an SAE's features as a Neuronpedia export (jsonl + jsonl.gz per source)"
SAELENS_HELP = (
    "copy one SSAE (or GSAE) in SAELens's format to a folder, with a README on loading it"
)


def register(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="SAEs for other tools").add_subparsers(
        title="export commands"
    )
    common.add_commands(
        export,
        common.Command("neuronpedia", NEURONPEDIA_HELP, _options, run, check),
        common.Command("saelens", SAELENS_HELP, _saelens_options, run_saelens, _saelens_check),
    )


def _saelens_options(p: argparse.ArgumentParser) -> None:
    common.common_options(p)
    p.add_argument(
        "--sae",
        required=True,
        help="one SAE: ssae/KEY#i or gsae/KEY (or the artifact's directory, #i)",
    )
    p.add_argument("--out", required=True, help="a new (or empty) folder to copy it into")


def _saelens_check(args: argparse.Namespace) -> tuple[str, int]:
    from ssae_core.infra.errors import ConfigError

    spec, _, index = args.sae.partition("#")
    if index and not index.isdigit():
        raise ConfigError(f"--sae {args.sae!r}: after '#' give the SAE's number, e.g. #0.")
    return spec, int(index or 0)


def run_saelens(args: argparse.Namespace) -> int:
    from ssae_core.report.saelens import export_saelens

    spec, index = _saelens_check(args)
    ws = Workspace(args.workspace)
    made = export_saelens(common.open_artifact(ws, spec, ("ssae", "gsae")), index, Path(args.out))
    out = {**made._asdict(), "path": str(made.path)}
    common.emit(out, args.json, common.format_paths)
    return 0


def _options(p: argparse.ArgumentParser) -> None:
    from ssae_core.report.neuronpedia import ExportConfig

    common.common_options(p)
    common.base_options(p)
    common.text_field_option(p)
    p.add_argument(
        "--sae",
        default="gsae",
        help="gsae (the base's GSAE), or one SSAE: ssae/KEY#i (or its directory#i)",
    )
    p.add_argument("--split", required=True, help="a demo split or a text file/folder")
    p.add_argument("--out", required=True, help="the folder the export is written into")
    p.add_argument("--description", default="", help="the release's description")
    add_options(p, ExportConfig)


def check(args: argparse.Namespace):
    from ssae_core.report.neuronpedia import ExportConfig

    cfg = from_args(ExportConfig, args)
    cfg.validate()
    return cfg


def run(args: argparse.Namespace) -> int:
    from ssae_core.analysis.autointerp.run import stored_results
    from ssae_core.evaluate.evaluation import evaluate, load_features
    from ssae_core.evaluate.sae_set import NamedSAE
    from ssae_core.infra.errors import ConfigError
    from ssae_core.report.neuronpedia import export, source_for

    cfg = check(args)
    ws = Workspace(args.workspace)
    with common.progress(args) as progress:
        base = common.load_base(args, ws, progress)
        if args.sae == "gsae":
            sae = NamedSAE(base.ref, "GSAE", base.sae, "GSAE")
        else:
            picked = common.picked_ssaes(ws, base, args.sae)
            if len(picked) != 1:
                raise ConfigError(
                    f"--sae {args.sae!r} holds {len(picked)} SAEs; pick one with #i (#0 to"
                    f" #{len(picked) - 1})."
                )
            sae = picked[0]
        split = common.token_split(args.split, base, args)
        art = evaluate(ws, base, [sae], split, progress=progress)[sae.ref]
        source = source_for(base, sae.ref == base.ref, cfg, Path(args.out))
        out = export(
            base,
            sae.sae,
            load_features(art),
            split.docs,
            source,
            cfg,
            stored_results(ws, [sae.ref]),
            args.description,
            progress,
        )
    common.emit(out, args.json, common.format_paths)
    return 0
