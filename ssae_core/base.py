"""Load the base LM and its general SAE from one of three sources.

- ``demo``: the embedded demo world (built into the workspace on first use);
- ``release``: a SAELens release + SAE id, with the TransformerLens model it was
  trained on (``SAE.from_pretrained`` + ``HookedSAETransformer.from_pretrained``);
- ``local``: a model directory (this project's ``tl_config.json`` format, or a
  Hugging Face model directory with its TransformerLens architecture name) and an
  SAE directory in SAELens format (``cfg.json`` + ``sae_weights.safetensors``).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from sae_lens import SAE, HookedSAETransformer

from ssae_core.config import Config
from ssae_core.device import pick_device
from ssae_core.errors import LoadError
from ssae_core.progress import Progress
from ssae_core.workspace import Workspace, atomic_write_json

SPEC_FILE = "base.json"

OFFLINE_ALTERNATIVES = (
    "Offline, use the embedded demo world (--base demo), or local directories "
    "(--base local --model-dir DIR --sae-dir DIR), or set HF_HUB_OFFLINE=1 to use "
    "models already in your Hugging Face cache."
)


@dataclass(frozen=True)
class BaseSpec(Config):
    """Where the base model and GSAE come from."""

    source: str = "demo"  # demo | release | local
    quick: bool = False  # demo: the miniature world
    model_name: str = ""  # release: TransformerLens name (default: the release's model)
    release: str = ""  # release: e.g. gpt2-small-res-jb
    sae_id: str = ""  # release: e.g. blocks.8.hook_resid_pre
    model_dir: str = ""  # local
    sae_dir: str = ""  # local


@dataclass
class Base:
    """A loaded base: the LM, its GSAE, the hook the GSAE reads, and where they came from."""

    model: HookedSAETransformer
    sae: SAE
    hook_name: str
    spec: BaseSpec
    world: Any = None  # the DemoWorld for source == "demo"

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
        return self.world.gsae_art.ref if self.world is not None else f"base/{self.spec.digest()}"


def cli_args(spec: BaseSpec) -> list[str]:
    """The CLI options that name ``spec`` (so background jobs load the same base)."""
    if spec.source == "demo":
        return ["--quick"] if spec.quick else []
    named = {"release": ("model_name", "release", "sae_id"), "local": ("model_dir", "sae_dir")}[
        spec.source
    ]
    args = ["--base", spec.source]
    for field in named:
        if getattr(spec, field):
            args += ["--" + field.replace("_", "-"), getattr(spec, field)]
    return args


def saved_spec(ws: Workspace, default: BaseSpec) -> BaseSpec:
    """The base chosen for this workspace (``base.json``), else ``default``."""
    path = ws.root / SPEC_FILE
    return BaseSpec.from_dict(json.loads(path.read_text())) if path.is_file() else default


def save_spec(ws: Workspace, spec: BaseSpec) -> None:
    """Make ``spec`` this workspace's base (what the dashboard and its jobs load)."""
    atomic_write_json(ws.root / SPEC_FILE, spec.to_dict())


def load_base(
    spec: BaseSpec,
    workspace: Workspace | None = None,
    device: str | None = None,
    progress: Progress | None = None,
) -> Base:
    """Load the LM and GSAE described by ``spec``; LoadError with what to do on failure."""
    dev = pick_device(device)
    if spec.source == "demo":
        from ssae_core.demo import world as demo_world

        cfg = demo_world.DemoConfig.quick() if spec.quick else demo_world.DemoConfig()
        world = demo_world.build(cfg, workspace, str(dev), progress)
        return Base(world.model, world.gsae, world.hook_name, spec, world)
    if spec.source == "release":
        model, sae = _load_release(spec, dev)
    elif spec.source == "local":
        model, sae = load_model_dir(spec.model_dir, dev), load_sae_dir(spec.sae_dir, dev)
    else:
        raise LoadError(f"Unknown base source {spec.source!r}; use 'demo', 'release' or 'local'.")
    hook = check_compatible(model, sae)
    return Base(model, sae, hook, spec)


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


def load_sae_dir(path: str | os.PathLike, device: torch.device | str = "cpu") -> SAE:
    """An SAE saved in SAELens format; LoadError naming the missing or bad file."""
    path = Path(path)
    for name in ("cfg.json", "sae_weights.safetensors"):
        if not (path / name).is_file():
            raise LoadError(
                f"{path} is not an SAE directory in SAELens format: {name} is missing. "
                "Save SAEs with sae.save_model(dir), or pick another directory."
            )
    try:
        return SAE.load_from_disk(path, device=str(device))
    except Exception as exc:  # SAELens raises many types for bad files
        raise LoadError(
            f"Could not load the SAE in {path}: {type(exc).__name__}: {exc}. Check cfg.json matches"
            " the weights."
        ) from None


def load_model_dir(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> HookedSAETransformer:
    """A local model: this project's format (tl_config.json) or a Hugging Face directory."""
    from ssae_core.demo import lm
    from ssae_core.demo.tokenizer import load_tokenizer

    path = Path(path)
    if (path / lm.CONFIG_FILE).is_file():
        return lm.load_model(path, load_tokenizer(path), device)
    if not (path / "config.json").is_file():
        raise LoadError(
            f"{path} is not a model directory: it has neither tl_config.json (this project's"
            " format) nor config.json (a Hugging Face model). Pick the directory that holds those"
            " files."
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        hf_model = AutoModelForCausalLM.from_pretrained(str(path))
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except Exception as exc:
        raise LoadError(f"Could not read the Hugging Face model in {path}: {exc}") from None
    return _hooked_from_hf_dir(path, hf_model, tokenizer, device)


def _hooked_from_hf_dir(path: Path, hf_model, tokenizer, device) -> HookedSAETransformer:
    """TransformerLens's own conversion, fed from a local directory instead of the hub."""
    from transformer_lens import loading_from_pretrained as loading

    try:
        cfg = loading.get_pretrained_model_config(
            str(path), hf_cfg=hf_model.config.to_dict(), fold_ln=True, device=str(device)
        )
        state_dict = loading.get_pretrained_state_dict(str(path), cfg, hf_model)
    except Exception as exc:
        raise LoadError(
            f"TransformerLens cannot convert the model in {path} ({type(exc).__name__}:"
            f" {str(exc)[:200]}). Only architectures TransformerLens supports can be loaded."
        ) from None
    model = HookedSAETransformer(cfg, tokenizer=tokenizer)
    model.load_and_process_state_dict(
        state_dict,
        fold_ln=True,
        center_writing_weights=True,
        center_unembed=True,
        fold_value_biases=True,
    )
    return model.to(device).eval()


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
    if not _hub_offline_mode() and not hub_reachable():
        raise LoadError(
            f"Cannot reach the Hugging Face Hub to download {model_name} and {spec.release}."
            f" {OFFLINE_ALTERNATIVES}"
        )
    try:
        sae = SAE.from_pretrained(spec.release, spec.sae_id, device=str(device))
        model = HookedSAETransformer.from_pretrained(model_name, device=str(device))
    except Exception as exc:
        raise LoadError(
            f"Could not load {model_name} / {spec.release}:{spec.sae_id}: {type(exc).__name__}:"
            f" {str(exc).rstrip('.')}. {OFFLINE_ALTERNATIVES}"
        ) from None
    return model, sae


def _hub_offline_mode() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face Hub opens within ``timeout`` seconds."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False
