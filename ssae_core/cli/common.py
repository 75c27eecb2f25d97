"""What the commands share: the parser that adds a command's options on first use, the common,
base and SAE options, and helpers (progress, JSON or text output, artifacts, background jobs)."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ssae_core.infra import jobs
from ssae_core.infra.config import add_options, from_args, split_values
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.progress import Progress, Silent, Tqdm
from ssae_core.infra.workspace import Artifact, Workspace

BASE_FLAGS = {"source": "--base"}
"""BaseSpec fields whose flag is not ``--field-name``."""


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser that adds its options (``options(parser)``) on first use: parsing, usage
    or help.

    Most commands' options come from config dataclasses in modules that load torch, sae_lens or
    sentence-transformers; adding them only to the command being run keeps ``jobs list`` and the
    top-level help from importing any of that.
    """

    def __init__(
        self, *args: Any, options: Callable[[CommandParser], None] | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self._pending_options = options

    def add_pending_options(self) -> CommandParser:
        options, self._pending_options = self._pending_options, None
        if options is not None:
            options(self)
        return self

    def parse_known_args(self, args=None, namespace=None):
        self.add_pending_options()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self.add_pending_options()
        return super().format_usage()

    def format_help(self) -> str:
        self.add_pending_options()
        return super().format_help()


class Command(NamedTuple):
    """One subcommand: its name, help line, options (added on first use) and run function."""

    name: str
    help: str
    options: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]
    check: Callable[[argparse.Namespace], object] | None = None
    """Validates the parsed options without doing any work (raises ``SSAEError``); ``run`` calls
    it too. Lets a page refuse a bad value before it launches a job."""


def add_commands(sub: argparse._SubParsersAction, *commands: Command) -> None:
    """Register ``commands`` under ``sub`` (a ``CommandParser``'s subparsers)."""
    for command in commands:
        parser = sub.add_parser(command.name, help=command.help, options=command.options)
        parser.set_defaults(run=command.run, check=command.check)


def common_options(p: argparse.ArgumentParser) -> None:
    """``--workspace``, ``--device``, ``--json`` and the hidden ``--job``: every command's."""
    p.add_argument("--workspace", help="artifact directory (default: $SSAE_WORKSPACE or ./cache)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    # set by jobs.launch: report into this job's row
    p.add_argument("--job", help=argparse.SUPPRESS)


def base_options(p: argparse.ArgumentParser) -> None:
    """``--base``, ``--quick``, ``--model-name``, ... : where the LM and GSAE come from."""
    from ssae_core.models.base import BaseSpec  # loads torch and sae_lens

    add_options(p, BaseSpec, flags=BASE_FLAGS)


def executor_options(p: argparse.ArgumentParser) -> None:
    """``--executor``, ``--ray-address``, ``--ray-cpus``: where the command's units of work run."""
    from ssae_core.infra.executor import ExecutorConfig

    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="local: this process; ray: one Ray task per unit (default: the workspace's setting,"
        " else local)",
    )
    add_options(p, ExecutorConfig, only=["ray_address", "ray_cpus"])


def executor(args: argparse.Namespace, ws: Workspace):
    """The executor the options name; the workspace's setting when ``--executor`` is not given."""
    from ssae_core.infra import executor as ex

    if args.executor is None and not args.ray_address:
        return ex.make(ex.setting(ws))
    kind = args.executor or "ray"
    return ex.make(from_args(ex.ExecutorConfig, args, executor=kind))


def base_spec(args: argparse.Namespace):
    """The BaseSpec the base options name."""
    from ssae_core.models.base import BaseSpec

    return from_args(BaseSpec, args)


def load_base(args: argparse.Namespace, ws: Workspace, progress: Progress):
    """The base the options name, on ``--device``; every source registered first (importing
    ``ssae_core.demo`` registers the demo world)."""
    import ssae_core.demo  # noqa: F401
    from ssae_core.models.base import load_base as load

    return load(base_spec(args), ws, args.device, progress)


def text_field_option(p: argparse.ArgumentParser) -> None:
    from ssae_core.select.data import IngestConfig  # loads pandas

    add_options(p, IngestConfig, only=["text_field"])


def sae_options(p: argparse.ArgumentParser, gsae_flag: bool = True) -> None:
    """Options of the commands that work on the GSAE and SSAEs over test texts."""
    common_options(p)
    base_options(p)
    p.add_argument(
        "--ssae",
        action="append",
        default=[],
        help="a finetuning artifact (directory or ssae/KEY); repeat for several",
    )
    text_field_option(p)
    if gsae_flag:
        p.add_argument("--no-gsae", action="store_true", help="leave the GSAE out")


def floats(text: str, flag: str) -> tuple[float, ...]:
    """``"1,2.5"`` -> ``(1.0, 2.5)``; a ConfigError naming ``flag`` otherwise."""
    return split_values(text, float, flag)


def open_artifact(ws: Workspace, spec: str, kind: str | tuple[str, ...]) -> Artifact:
    """An artifact of ``kind`` (or one of several) from its directory or ``kind/KEY`` in the
    workspace; a clear error otherwise."""
    kinds = (kind,) if isinstance(kind, str) else kind
    named = " or ".join(kinds)
    path = Path(spec) if Path(spec).is_dir() else ws.root / spec
    if not (path / "manifest.json").exists():
        raise ConfigError(
            f"No {named} artifact at {spec!r}: give its directory or {kinds[0]}/KEY (see"
            f" {ws.root / kinds[0]})."
        )
    art = ws.open(path)
    if art.kind not in kinds:
        raise ConfigError(f"{spec!r} is a {art.kind} artifact, not a {named}.")
    return art


def emit(obj: dict, as_json: bool, fmt: Callable[[dict], str]) -> None:
    """Print ``obj`` as JSON (``--json``) or as ``fmt(obj)``."""
    print(json.dumps(obj, indent=2, default=float) if as_json else fmt(obj))


def format_paths(s: dict) -> str:
    """``name: path`` lines."""
    return "\n".join(f"{k}: {v}" for k, v in s.items())


@contextlib.contextmanager
def progress(args: argparse.Namespace) -> Iterator[Progress]:
    """tqdm bars, nothing (--json), or the job's row when running as a job (``main`` marks
    its end)."""
    if args.reporter is not None:
        yield args.reporter
        return
    bars = Silent() if args.json else Tqdm()
    yield bars
    bars.close()


BACKGROUND = "--background"


def background_option(p: argparse.ArgumentParser) -> None:
    """``--background``: queue the command as a training job instead of running it here."""
    p.add_argument(
        BACKGROUND,
        action="store_true",
        help="run as a background job (one training job per device; others queue)",
    )


def launch_training_job(
    args: argparse.Namespace, ws: Workspace, name: str, extra: list[str]
) -> int:
    """Queue this command (without ``--background``, with ``extra``) as job ``name`` in the
    device's training slot."""
    from ssae_core.infra.device import pick_device  # loads torch

    device = str(pick_device(args.device))
    argv = [a for a in args.argv if a != BACKGROUND] + ["--device", device, *extra]
    state = jobs.launch(ws, name, argv, resource=f"train:{device}")
    emit(
        {"job": name, "state": state.state},
        args.json,
        lambda s: f"job {s['job']}: {s['state']}  (python -m ssae_core jobs show {s['job']})",
    )
    return 0


def comparison_inputs(args: argparse.Namespace, progress: Progress):
    """(workspace, base, SAEs, splits) named by the evaluate / report options."""
    from ssae_core.evaluate.sae_set import sae_set

    ws = Workspace(args.workspace)
    base = load_base(args, ws, progress)
    if not args.split:
        raise ConfigError(
            "Give at least one --split: a demo split such as physics_test, or a file of test texts."
        )
    saes = sae_set(
        ws, base, [open_artifact(ws, spec, "ssae") for spec in args.ssae], not args.no_gsae
    )
    if not saes:
        raise ConfigError("Nothing to evaluate: give --ssae, or drop --no-gsae.")
    return ws, base, saes, [token_split(spec, base, args) for spec in args.split]


def picked_ssaes(ws: Workspace, base, spec: str) -> list:
    """The SSAEs ``spec`` names: a finetuning artifact (``ART``: all its SAEs) or one of them
    (``ART#i``), as ``NamedSAE``s."""
    from ssae_core.evaluate.sae_set import sae_set

    path, _, index = spec.partition("#")
    group = sae_set(ws, base, [open_artifact(ws, path, "ssae")], include_gsae=False)
    picked = [s for s in group if not index or s.ref.endswith(f"#{index}")]
    if not picked:
        raise ConfigError(
            f"{spec!r}: the artifact has SAEs #0 to #{len(group) - 1}; give one of them."
        )
    return picked


def token_split(spec: str, base, args: argparse.Namespace):
    """The test split ``spec`` (a demo split or a text file/folder) as the base's token ids."""
    from ssae_core.evaluate import evaluation as evaluate

    return evaluate.token_split(spec, base, args.text_field)
