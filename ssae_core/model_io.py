"""Models and SAEs on disk: this project's model format, Hugging Face model directories, and
SAEs in SAELens format.

This project's format (what the demo world writes): ``tl_config.json`` (a TransformerLens
``HookedTransformerConfig``), ``model.safetensors`` and the tokenizer's Hugging Face files;
only weights are read, nothing is unpickled. A Hugging Face directory (``config.json``) is
converted by TransformerLens's own code, as ``from_pretrained`` would, but offline. Every
failure is a ``LoadError`` that names the file and what to do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from sae_lens import SAE, HookedSAETransformer
from safetensors.torch import load_file, save_file
from transformer_lens import HookedTransformerConfig
from transformers import PreTrainedTokenizerFast

from ssae_core.errors import LoadError

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "tl_config.json"


def build_model(
    tl_cfg: dict, tokenizer=None, device: str | torch.device = "cpu"
) -> HookedSAETransformer:
    cfg = HookedTransformerConfig(**tl_cfg, device=str(device))
    return HookedSAETransformer(cfg, tokenizer=tokenizer)


def save_model(model: HookedSAETransformer, tl_cfg: dict, directory: Path) -> None:
    (directory / CONFIG_FILE).write_text(json.dumps(tl_cfg, indent=2))
    save_file(
        {k: v.contiguous().cpu() for k, v in model.state_dict().items()}, directory / MODEL_FILE
    )


def load_model(
    directory: Path, tokenizer=None, device: str | torch.device = "cpu"
) -> HookedSAETransformer:
    """Load a model saved by ``save_model`` (weights only; no code is unpickled)."""
    tl_cfg = json.loads((directory / CONFIG_FILE).read_text())
    model = build_model(tl_cfg, tokenizer, device)
    model.load_state_dict(load_file(directory / MODEL_FILE, device=str(device)))
    return model.eval()


SAE_CONFIG, SAE_WEIGHTS = "cfg.json", "sae_weights.safetensors"


def load_sae_dir(path: str | os.PathLike, device: torch.device | str = "cpu") -> SAE:
    """An SAE saved in SAELens format; LoadError naming the missing or bad file.

    Before SAELens builds the SAE, ``cfg.json`` must be a JSON object whose ``d_in`` and
    ``d_sae`` match the shapes stored in the weights file (read from its header: a config asking
    for an absurd width fails here instead of allocating it); after, every weight must be finite.
    """
    path = Path(path)
    for name in (SAE_CONFIG, SAE_WEIGHTS):
        if not (path / name).is_file():
            raise LoadError(
                f"{path} is not an SAE directory in SAELens format: {name} is missing. "
                "Save SAEs with sae.save_model(dir), or pick another directory."
            )
    _check_shapes(path, _sae_config(path), _stored_shapes(path))
    try:
        sae = SAE.load_from_disk(path, device=str(device))
    except Exception as exc:  # SAELens raises many types for bad files
        raise LoadError(
            f"Could not load the SAE in {path}: {type(exc).__name__}: {exc}. Check cfg.json matches"
            " the weights."
        ) from None
    for name, tensor in sae.state_dict().items():
        if not torch.isfinite(tensor).all():
            raise LoadError(
                f"The SAE in {path} is damaged: {name} holds NaN or infinite values. Use another"
                " SAE or train it again."
            )
    return sae


def _sae_config(path: Path) -> dict:
    try:
        cfg = json.loads((path / SAE_CONFIG).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise LoadError(
            f"{path / SAE_CONFIG} is not valid JSON ({exc}). Save the SAE again."
        ) from None
    dims = [cfg.get(k) if isinstance(cfg, dict) else None for k in ("d_in", "d_sae")]
    if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise LoadError(
            f"{path / SAE_CONFIG} must give d_in and d_sae as positive integers (it gives"
            f" {dims[0]!r} and {dims[1]!r})."
        )
    return cfg


def _stored_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, from the safetensors header (nothing is loaded)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path / SAE_WEIGHTS), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:
        raise LoadError(
            f"{path / SAE_WEIGHTS} cannot be read ({type(exc).__name__}: {str(exc)[:200]}): it is"
            " truncated or not a safetensors file. Copy or save the SAE again."
        ) from None


def _check_shapes(path: Path, cfg: dict, shapes: dict[str, tuple[int, ...]]) -> None:
    d_in, d_sae = cfg["d_in"], cfg["d_sae"]
    for name, expected in (("W_enc", (d_in, d_sae)), ("W_dec", (d_sae, d_in))):
        if shapes.get(name) != expected:
            raise LoadError(
                f"{path}: {name} in {SAE_WEIGHTS} has shape {shapes.get(name)}, but {SAE_CONFIG}"
                f" (d_in={d_in}, d_sae={d_sae}) needs {expected}. The config does not belong to"
                " these weights."
            )


def load_model_dir(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> HookedSAETransformer:
    """A local model: this project's format (tl_config.json) or a Hugging Face directory."""
    path = Path(path)
    if (path / CONFIG_FILE).is_file():
        return load_model(path, PreTrainedTokenizerFast.from_pretrained(str(path)), device)
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
