"""Load the base LM and its general SAE from a registered source.

- ``release``: a SAELens release + SAE id, with the TransformerLens model it was
  trained on (``SAE.from_pretrained`` + ``HookedSAETransformer.from_pretrained``);
- ``local``: a model directory (this project's ``tl_config.json`` format, or a
  Hugging Face model directory with its TransformerLens architecture name) and an
  SAE directory in SAELens format (``cfg.json`` + ``sae_weights.safetensors``);
- any source a higher package registers with ``register_source``: ``ssae_core.demo`` registers
  ``demo`` (the embedded demo world, built into the workspace on first use), whose ``Base``
  carries the world's texts and ground truth as ``Base.data`` (``source.BaseData``).

A loader is a module-level function ``(spec, workspace, device, progress) -> Base``, so an
executor can ship it to another process, where unpickling it imports (and so registers) its
module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from sae_lens import SAE, HookedSAETransformer

from ssae_core.infra import hub
from ssae_core.infra.config import Config
from ssae_core.infra.device import pick_device
from ssae_core.infra.errors import LoadError
from ssae_core.infra.executor import Context
from ssae_core.infra.progress import Progress
from ssae_core.infra.workspace import Workspace, atomic_write_json
from ssae_core.models.model_io import load_model_dir, load_sae_dir
from ssae_core.models.source import BaseData

SPEC_FILE = "base.json"


@dataclass(frozen=True)
class BaseSpec(Config):
    """Where the base model and GSAE come from."""

    source: Literal["demo", "release", "local"] = "demo"
    """Where the LM and GSAE come from (``demo`` is registered by ``ssae_core.demo``)."""
    quick: bool = False
    """Demo base: the miniature world."""
    model_name: str = ""
    """Release: TransformerLens model name (default: the release's model)."""
    release: str = ""
    """Release: SAELens release, e.g. gpt2-small-res-jb."""
    sae_id: str = ""
    """Release: SAE id inside the release, e.g. blocks.8.hook_resid_pre."""
    model_dir: str = ""
    """Local: model directory."""
    sae_dir: str = ""
    """Local: SAE directory (SAELens format)."""


@dataclass
class Base:
    """A loaded base: the LM, its GSAE, the hook the GSAE reads, and where they came from."""

    model: HookedSAETransformer
    sae: SAE
    hook_name: str
    spec: BaseSpec
    data: BaseData | None = None
    """The texts and ground truth its source ships (the demo world's); None for most bases."""

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def describe(self) -> dict:
        """What a researcher checks first: the model's size and the GSAE's width and hook."""
        cfg = self.model.cfg
        return {
            "model": cfg.model_name,
            "layers": cfg.n_layers,
            "d_model": cfg.d_model,
            "vocabulary": cfg.d_vocab,
            "context": cfg.n_ctx,
            "hook": self.hook_name,
            "d_sae": self.sae.cfg.d_sae,
            "architecture": self.sae.cfg.architecture(),
        }

    @property
    def ref(self) -> str:
        """How artifacts computed with this base name it among their inputs."""
        return self.data.ref if self.data is not None else f"base/{self.spec.digest()}"

    def context(self, ws: Workspace, device: str | None, progress: Progress) -> Context:
        """The executor context of units that use this base (loaded here already; an executor
        that runs them elsewhere loads it there with the same loader)."""
        return Context(ws, self.spec, device, progress, self, loader_for(self.spec))


def saved_spec(ws: Workspace, default: BaseSpec) -> BaseSpec:
    """The base chosen for this workspace (``base.json``), else ``default``."""
    path = ws.root / SPEC_FILE
    return BaseSpec.from_dict(json.loads(path.read_text())) if path.is_file() else default


def save_spec(ws: Workspace, spec: BaseSpec) -> None:
    """Make ``spec`` this workspace's base (what the dashboard and its jobs load); the demo world
    is the default, so choosing it removes the stored choice."""
    if spec.source == "demo":
        (ws.root / SPEC_FILE).unlink(missing_ok=True)
    else:
        atomic_write_json(ws.root / SPEC_FILE, spec.to_dict())


Loader = Callable[[BaseSpec, "Workspace | None", torch.device, "Progress | None"], Base]
"""Loads a base from its spec: a module-level function, so that it pickles by reference."""

_SOURCES: dict[str, Loader] = {}


def register_source(name: str, loader: Loader) -> None:
    """Make ``BaseSpec(source=name)`` load with ``loader`` (``ssae_core.demo`` registers
    ``demo`` when it is imported)."""
    _SOURCES[name] = loader


def source_names() -> list[str]:
    """The registered sources, in registration order."""
    return list(_SOURCES)


def loader_for(spec: BaseSpec) -> Loader:
    """The loader of ``spec.source``; LoadError naming the registered sources otherwise."""
    if spec.source not in _SOURCES:
        demo = spec.source == "demo"
        hint = " (import ssae_core.demo first: the CLI and the dashboard do)" if demo else ""
        raise LoadError(
            f"Unknown base source {spec.source!r}{hint}; registered sources: {source_names()}."
        )
    return _SOURCES[spec.source]


def load_base(
    spec: BaseSpec,
    workspace: Workspace | None = None,
    device: str | None = None,
    progress: Progress | None = None,
) -> Base:
    """Load the LM and GSAE described by ``spec``; LoadError with what to do on failure."""
    return loader_for(spec)(spec, workspace, pick_device(device), progress)


def _load_release_base(spec: BaseSpec, workspace, device: torch.device, progress) -> Base:
    model, sae = _load_release(spec, device)
    return Base(model, sae, check_compatible(model, sae), spec)


def _load_local_base(spec: BaseSpec, workspace, device: torch.device, progress) -> Base:
    # absolute paths: the spec names the base's artifacts, whatever the working directory (a Ray
    # worker's differs)
    spec = spec.replace(
        **{
            k: str(Path(v).expanduser().resolve())
            for k in ("model_dir", "sae_dir")
            if (v := getattr(spec, k))
        }
    )
    model, sae = load_model_dir(spec.model_dir, device), load_sae_dir(spec.sae_dir, device)
    return Base(model, sae, check_compatible(model, sae), spec)


register_source("release", _load_release_base)
register_source("local", _load_local_base)


def check_compatible(model: HookedSAETransformer, sae: SAE) -> str:
    """The SAE's hook name, after checking the model has that hook with width ``d_in``."""
    hook = sae.cfg.metadata.hook_name
    if not hook or hook not in model.hook_dict:
        raise LoadError(
            f"The SAE reads hook {hook!r}, which the model does not have. Pick an SAE trained on"
            " this model (its hooks look like 'blocks.0.hook_resid_post'), or set hook_name in the"
            " SAE's cfg.json."
        )
    width = _hook_width(model, hook)
    if width is not None and width != sae.cfg.d_in:
        raise LoadError(
            f"The SAE expects d_in={sae.cfg.d_in} at {hook}, but the model's activations there have"
            f" width {width}. The SAE was trained on a different model; load the matching pair."
        )
    return hook


def _hook_width(model, hook: str) -> int | None:
    if "resid" in hook or hook.endswith(("attn_out", "mlp_out")):
        return model.cfg.d_model
    return None


def releases() -> dict[str, tuple[str, list[str]]]:
    """SAELens's release directory (shipped with the package, no network): release -> (model, SAE
    ids)."""
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    return {
        name: (r.model, list(r.saes_map)) for name, r in get_pretrained_saes_directory().items()
    }


def _load_release(spec: BaseSpec, device: torch.device):
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory
    from transformer_lens.loading_from_pretrained import get_official_model_name

    directory = get_pretrained_saes_directory()
    if spec.release not in directory:
        close = [r for r in directory if spec.release and spec.release.split("-")[0] in r][:8]
        raise LoadError(
            f"Unknown SAELens release {spec.release!r}. Similar releases:"
            f" {close or sorted(directory)[:8]}."
        )
    release = directory[spec.release]
    if spec.sae_id not in release.saes_map:
        raise LoadError(
            f"Release {spec.release!r} has no SAE {spec.sae_id!r}; it has"
            f" {list(release.saes_map)[:12]}."
        )
    model_name = spec.model_name or release.model
    try:
        get_official_model_name(model_name)
    except ValueError:
        raise LoadError(
            f"Unknown TransformerLens model {model_name!r}. Use an official name such as gpt2-small"
            " or gemma-2b."
        ) from None
    if not hub.offline_mode() and not hub.hub_reachable():
        raise LoadError(
            f"Cannot reach the Hugging Face Hub to download {model_name} and {spec.release}."
            f" {hub.OFFLINE_ALTERNATIVES}"
        )
    try:
        sae = SAE.from_pretrained(spec.release, spec.sae_id, device=str(device))
        model = HookedSAETransformer.from_pretrained(model_name, device=str(device))
    except Exception as exc:
        raise LoadError(
            f"Could not load {model_name} / {spec.release}:{spec.sae_id}: {type(exc).__name__}:"
            f" {str(exc).rstrip('.')}. {hub.OFFLINE_ALTERNATIVES}"
        ) from None
    return model, sae
