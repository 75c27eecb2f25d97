"""The sparsity coefficient's schedule during training, per SAE of a stack: a linear warm-up
from 0, then, with a target L0, an integral controller on log L0 that steers the coefficient
toward it, held once the learning rate decays.

Steering (between the warm-up and the decay): ``running L0 <- (1 - a) running L0 + a L0`` (a =
``STEER_EMA``), then ``factor <- factor * (running L0 / target) ** STEER_GAIN``; too many active
latents raise the coefficient, too few lower it. About 500 steps halve an L0 error. For
standard (L1) and JumpReLU (L0) SAEs; a TopK SAE's k is its sparsity and has no coefficient.
"""

from __future__ import annotations

import torch

STEER_GAIN = 0.002
"""Exponent of the per-step correction (running L0 / target)."""
STEER_EMA = 0.02
"""Weight of the newest batch's L0 in the running L0 the steering reads."""


class SparsitySchedule:
    """The factor on each SAE's sparsity coefficient, step by step (``factor``), updated from
    each step's L0 (``observe``); its state goes into the run's checkpoint."""

    def __init__(self, k: int, steps: int, warmup: int, decay_steps: int, target_l0: float):
        self.steps, self.warmup, self.decay_steps, self.target = (
            steps,
            warmup,
            decay_steps,
            target_l0,
        )
        self.steer = torch.ones(k, dtype=torch.float64)
        self.l0_run: torch.Tensor | None = None

    def factor(self, step: int) -> torch.Tensor:
        """(K,) float64: warm-up share times the steered factor at ``step`` (0-based)."""
        warm = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        return warm * self.steer

    def observe(self, step: int, l0: torch.Tensor) -> None:
        """Take step ``step``'s mean L0 per SAE (K,) into the steering."""
        if not self.target or not self.warmup <= step < self.steps - self.decay_steps:
            return
        l0 = l0.detach().double().cpu()
        ema = STEER_EMA
        self.l0_run = l0 if self.l0_run is None else (1 - ema) * self.l0_run + ema * l0
        self.steer *= (self.l0_run.clamp_min(1e-3) / self.target) ** STEER_GAIN

    def state_dict(self) -> dict:
        return {"steer": self.steer, "l0_run": self.l0_run}

    def load_state_dict(self, state: dict) -> None:
        self.steer, self.l0_run = state["steer"], state["l0_run"]
