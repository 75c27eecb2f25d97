"""The one place that picks the torch device."""

from __future__ import annotations

import os

import torch

from ssae_core.errors import ConfigError


def pick_device(requested: str | None = None) -> torch.device:
    """``requested``, else ``$SSAE_DEVICE``, else CUDA when present, else CPU."""
    name = requested or os.environ.get("SSAE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"Device {name!r} was asked for but CUDA is not available here; use --device cpu.")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"Unknown device {name!r}; use 'cpu', 'cuda' or 'cuda:N'.") from None
