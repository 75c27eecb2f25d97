"""Background jobs as the dashboard launches them: one place builds each job's name, command
line, resource and device.

A job is a CLI command (``python -m ssae_core ...``) run by ``jobs.launch``. Its name is the
command's kind plus a hash of its arguments, so the same request from two pages, two tabs
or a reload finds the same job. Training jobs (finetuning, the demo comparison) name the
device they train on and hold that device's ``train:<device>`` resource, so two never
share it; the device is picked once, by ``device.pick_device``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ssae_core.infra import jobs
from ssae_core.infra.device import pick_device
from ssae_core.infra.workspace import Workspace
from ssae_core.models.base import BaseSpec


@dataclass(frozen=True)
class JobSpec:
    """A CLI command to run in the background under a stable name."""

    name: str
    argv: tuple[str, ...]
    resource: str = ""

    def launch(self, ws: Workspace) -> jobs.JobState:
        return jobs.launch(ws, self.name, list(self.argv), self.resource)

    def status(self, ws: Workspace) -> jobs.JobState | None:
        return jobs.status(ws, self.name)

    def problem(self) -> str | None:
        """Why the command would be refused before it does any work (a bad value), or None."""
        from ssae_core.cli import problem

        return problem(list(self.argv))


def base_args(spec: BaseSpec) -> list[str]:
    """The CLI options that name ``spec`` (so background jobs load the same base)."""
    if spec.source == "demo":
        return ["--quick"] if spec.quick else []
    named = {"release": ("model_name", "release", "sae_id"), "local": ("model_dir", "sae_dir")}
    args = ["--base", spec.source]
    for field in named[spec.source]:
        if getattr(spec, field):
            args += ["--" + field.replace("_", "-"), getattr(spec, field)]
    return args


def _hashed(kind: str, argv: Sequence[str], resource: str = "") -> JobSpec:
    digest = hashlib.sha256(" ".join(argv).encode()).hexdigest()[:10]
    return JobSpec(f"{kind}-{digest}", tuple(argv), resource)


def _training(kind: str, argv: list[str], name: str | None = None) -> JobSpec:
    device = str(pick_device())
    argv = [*argv, "--device", device]
    spec = _hashed(kind, argv, f"train:{device}")
    return spec if name is None else JobSpec(name, spec.argv, spec.resource)


def _repeat(flag: str, values: Iterable[str]) -> list[str]:
    return [a for v in values for a in (flag, v)]


def _sae_args(refs: Iterable[str], each: bool = False) -> list[str]:
    """``--ssae`` per finetuning artifact among SAE refs (``ssae/KEY#i``; with ``each``, per SAE
    ref as is), ``--no-gsae`` when the GSAE (any other ref) is not among them."""
    refs = list(refs)
    ssaes = [r for r in refs if r.startswith("ssae/")]
    arts = ssaes if each else sorted({r.split("#")[0] for r in ssaes})
    gsae = any(not r.startswith("ssae/") for r in refs)
    return _repeat("--ssae", arts) + ([] if gsae else ["--no-gsae"])


DEMO_BUILD = "demo-build"
DEMO_SSAES = "demo-ssaes"


def demo_build(quick: bool) -> JobSpec:
    """Build the demo world (the first launch)."""
    return JobSpec(DEMO_BUILD, ("demo", "build", "--json", *(["--quick"] if quick else [])))


def demo_ssaes(spec: BaseSpec, subdomain: str, method: str) -> JobSpec:
    """The demo comparison: a selection and ERM + TERM sweeps for ``subdomain``."""
    argv = ["demo", "ssaes", *base_args(spec), "--subdomain", subdomain, "--method", method]
    return _training("demo-ssaes", argv, name=DEMO_SSAES)


def select(
    spec: BaseSpec,
    seeds: str,
    corpus: str,
    method: str,
    tokens: int,
    tracin_l1: float | None = None,
) -> JobSpec:
    """A selection (``tracin_l1``: TracIn's L1 coefficient, for the TracIn methods; default the
    ``select`` command's)."""
    argv = ["select", *base_args(spec), "--seeds", seeds, "--corpus", corpus]
    argv += ["--method", method, "--tokens", str(int(tokens))]
    if "tracin" in method and tracin_l1 is not None:
        argv += ["--tracin-l1", f"{tracin_l1:g}"]
    return _hashed("select", argv)


def finetune(
    spec: BaseSpec,
    selection_ref: str,
    objective: str,
    sparsity: str,
    steps: int,
    tilts: str = "0",
    tilt_by: str = "absolute",
    extra: Sequence[str] = (),
) -> JobSpec:
    """A sparsity sweep on a selection (``sparsity``: comma-separated values). TERM tilts by
    ``tilts`` (comma-separated; several make a tilt sweep in the same job): t on the raw loss
    (``tilt_by`` "absolute"), t on loss / batch mean ("relative") or target effective sample
    shares ("ess")."""
    argv = ["finetune", *base_args(spec), "--selection", selection_ref, "--objective", objective]
    argv += ["--l1", sparsity, "--steps", str(int(steps))]
    sweep = "," in tilts
    if objective == "term" and tilt_by == "ess":
        argv += ["--ess-sweep" if sweep else "--target-ess", tilts]
    elif objective == "term":
        argv += ["--tilt-sweep" if sweep else "--tilt", tilts, "--tilt-scale", tilt_by]
    return _training("finetune", [*argv, *extra])


def gsae_train(
    model_dir: str, corpus: str, arch: str, sparsity: float, tokens: int, steps: int
) -> JobSpec:
    """A GSAE trained from scratch for the local model at ``model_dir`` (``gsae train``)."""
    argv = ["gsae", "train", "--model-dir", model_dir, "--corpus", corpus, "--arch", arch]
    argv += [
        "--sparsity",
        f"{sparsity:g}",
        "--tokens",
        str(int(tokens)),
        "--steps",
        str(int(steps)),
    ]
    return _training("gsae", argv)


def evaluate(spec: BaseSpec, sae_refs: Iterable[str], splits: Sequence[str]) -> JobSpec:
    """The missing ``sae_eval`` artifacts of these SAEs on these splits."""
    argv = ["evaluate", *base_args(spec), *_sae_args(sae_refs), *_repeat("--split", splits)]
    return _hashed("evaluate", argv)


def neuronpedia_export(
    spec: BaseSpec, sae_ref: str, is_gsae: bool, split: str, out: str
) -> JobSpec:
    """The SAE ``sae_ref``'s Neuronpedia export on ``split``, written under ``out``."""
    argv = ["export", "neuronpedia", *base_args(spec), "--sae", "gsae" if is_gsae else sae_ref]
    return _hashed("export", [*argv, "--split", split, "--out", out])


def autointerp(
    spec: BaseSpec,
    sae_refs: Iterable[str],
    split: str,
    features: int,
    backend: str,
    model: str,
    budget_usd: float = 0.0,
) -> JobSpec:
    argv = ["autointerp", *base_args(spec), *_sae_args(sae_refs), "--split", split]
    argv += ["--features", str(int(features)), "--backend", backend, "--model", model]
    if budget_usd:
        argv += ["--budget-usd", str(budget_usd)]
    return _hashed("autointerp", argv)


def shift(
    spec: BaseSpec, sae_refs: Iterable[str], task: str, task_ssae: bool, seed: int = 0
) -> JobSpec:
    """SHIFT's ranking (and the suggested removal) for each SAE on ``task``; with ``task_ssae``
    also the task's SSAE (a training job)."""
    argv = ["shift", *base_args(spec), "--task", task, "--seed", str(int(seed))]
    argv += _sae_args(sae_refs, each=True)
    if task_ssae:
        return _training("shift", [*argv, "--task-ssae"])
    return _hashed("shift", argv)
