"""The one place that picks the torch device."""

from __future__ import annotations

import os

import torch

from ssae_core.infra.errors import ConfigError


def pick_device(requested: str | None = None) -> torch.device:
    """``requested``, else ``$SSAE_DEVICE``, else CUDA when present, else CPU."""
    name = (
        requested
        or os.environ.get("SSAE_DEVICE")
        or ("cuda" if torch.cuda.is_available() else "cpu")
    )
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"Device {name!r} was asked for but CUDA is not available here; use --device cpu."
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"Unknown device {name!r}; use 'cpu', 'cuda' or 'cuda:N'.") from None


def share_cpu() -> int:
    """Limit this process's torch CPU threads to half the cores (at least one), for a process that
    shares the machine with a browser and background jobs: small inline work then does not stall on
    thread contention. Returns the thread count."""
    threads = max(1, (os.cpu_count() or 2) // 2)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
