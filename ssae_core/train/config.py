"""``FinetuneConfig``: one finetuning run, a sweep of SSAEs (one per tilt x sparsity value),
with the paper's defaults (SSAE paper Sec. 2.4, App. A); its fields are the ``finetune`` CLI's
options. Fields added after artifacts were made with the config are ``added`` (at their default
they leave the run's key unchanged).

``FinetuneConfig.recipe()`` is the product's default recipe, measured against the others on the
demo world (BENCHMARKS.md, "Specialization against forgetting, per finetuning option" and "Aiming
the new latents at error clusters"): SAE Boost extension, 512 new latents started on clusters of
the GSAE's residual errors and trained for 2,000 steps at lr 1e-3 on a 300K-token selection, the
L1 coefficient ``DEFAULT_L1``. The dataclass defaults stay the paper's recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ssae_core.infra.config import Config, added
from ssae_core.infra.errors import ConfigError
from ssae_core.models.sae_math import DEFAULT_L1
from ssae_core.train.schedule import SparsitySchedule
from ssae_core.train.tilt import Tilt


@dataclass(frozen=True)
class FinetuneConfig(Config):
    objective: Literal["erm", "term"] = "erm"
    """ERM (the mean loss) or TERM (the tilted mean, which weighs the worst items up)."""
    tilt: float = 0.0
    """TERM's tilt t (the paper: 500 and larger, on its loss scale); 0 is ERM."""
    tilt_scale: Literal["absolute", "relative"] = "absolute"
    """What t multiplies: the losses themselves (absolute, the paper's form: reproduces its t,
    but what a t does depends on the loss scale, which differs by model and activation
    normalization) or the losses divided by their batch mean (relative: t = 1 weighs a token
    e-fold more per mean loss it is above the mean, on any model)."""
    target_ess: float = 0.0
    """If > 0 (TERM only, instead of a tilt): each batch, pick t so that the tilt's weights have
    this effective sample share (1 = ERM, 1/N = the single worst item), e.g. 0.2."""
    tilt_sweep: tuple[float, ...] = ()
    """TERM only, instead of one tilt: a tilt sweep in this one run, one SSAE per (t, sparsity
    value) pair (t read on the ``tilt_scale``)."""
    ess_sweep: tuple[float, ...] = ()
    """TERM only, instead of one tilt: a sweep of target effective sample shares in this one run,
    one SSAE per (share, sparsity value) pair, e.g. 1 0.5 0.2 0.05 (1 is ERM)."""
    item: Literal["token", "sequence"] = "token"
    """What one loss term of the objective is."""
    sparsity: tuple[float, ...] = (3.5,)
    """Sparsity values, one SSAE each: L1 coef (standard), L0 coef (jumprelu) or k (topk)."""
    steps: int = 1000
    """Optimizer steps."""
    batch_tokens: int = 4096
    """Tokens per batch."""
    lr: float = 5e-5
    """Learning rate (Adam)."""
    decay_steps: int = 1000
    """Linear LR decay to 0 over the last this many steps (``finetune``: a fifth of the steps
    unless given)."""
    beta1: float = 0.9
    beta2: float = 0.999
    normalize_decoder: bool = True
    """Unit-norm decoder rows (standard, jumprelu)."""
    jumprelu_bandwidth: float = 0.001
    val_fraction: float = 0.1
    """Share of the documents held out for the final metrics."""
    dead_window: int = 200
    """Steps without firing after which a feature counts as dead."""
    log_every: int = 10
    checkpoint_every: int = 100
    seed: int = 0
    version: int = 1
    sparsity_warmup: int = added(0)
    """Steps over which the sparsity coefficient rises linearly from 0 to its value (standard,
    jumprelu); 0: none."""
    target_l0: float = added(0.0)
    """If > 0 (standard, jumprelu): steer each SAE's sparsity coefficient, after the warm-up and
    until the learning rate decays, so that its L0 approaches this (``train.schedule``)."""
    resample_every: int = added(0)
    """Every this many steps, latents that have not fired in as many steps are re-initialized
    toward badly reconstructed inputs of the batch (``train.resample``); 0: never."""
    resample_until: float = added(0.8)
    """Share of the steps after which no more resampling."""
    reaim: bool = added(False)
    """Resampling for finetuning a trained SAE: at the start, the latents silent on a sample of
    the selection, then (every ``resample_every`` steps) those silent since, are re-aimed at the
    residual errors of badly reconstructed tokens, with a bias that keeps L0 near its value
    (``train.resample``); without it, resampling is Anthropic's, for training from scratch."""
    extend: int = added(0)
    """If > 0: instead of changing the GSAE, add this many new latents and train only them, on
    what the frozen GSAE leaves in its residual (SAE Boost, arXiv 2507.12990). Each SSAE is the
    GSAE's latents plus these, so the GSAE's own latents compute what they did (standard,
    jumprelu); 0: finetune every latent."""
    aim: Literal["tokens", "clusters"] = added("tokens")
    """Where aimed latents point (an extension's new latents at the start; with ``reaim``, the
    silent ones): at the residual errors of single badly reconstructed tokens (tokens), or at the
    centres of a spherical k-means of the errors of the worst-reconstructed quarter of the tokens
    (clusters: each starts on a group of tokens the GSAE gets wrong the same way). At the start
    the tokens are the first batch (tokens) or a sample of the selection (clusters); later, the
    batch (``train.resample``)."""

    @classmethod
    def recipe(cls, **kw) -> FinetuneConfig:
        """The default recipe (extension, see the module docstring); ``kw`` sets other fields,
        e.g. ``extend=0, lr=3e-4`` for plain finetuning at the same budget."""
        steps = kw.get("steps", RECIPE["steps"])
        return cls(**{**RECIPE, "decay_steps": max(1, steps // 5), **kw})

    @classmethod
    def short(
        cls, sparsity: tuple[float, ...], steps: int, batch_tokens: int, lr: float, **kw
    ) -> FinetuneConfig:
        """A sweep whose learning rate decays over its last third (the demo comparison's and the
        study's schedule); ``kw`` sets the other fields."""
        decay_steps = max(1, steps // 3)
        return cls(
            sparsity=sparsity,
            steps=steps,
            batch_tokens=batch_tokens,
            lr=lr,
            **kw,
            decay_steps=decay_steps,
        )

    def validate(self) -> FinetuneConfig:
        if self.objective not in ("erm", "term"):
            raise ConfigError(f"objective must be 'erm' or 'term', not {self.objective!r}.")
        if self.objective == "erm" and self.tilt != 0:
            raise ConfigError("A tilt only applies to --objective term; drop --tilt or use term.")
        if self.item not in ("token", "sequence"):
            raise ConfigError(f"item must be 'token' or 'sequence', not {self.item!r}.")
        if not self.sparsity or any(not np.isfinite(v) or v < 0 for v in self.sparsity):
            raise ConfigError(
                "sparsity values must be finite and >= 0 (one SAE each); got"
                f" {list(self.sparsity)}."
            )
        positive = (
            "steps",
            "batch_tokens",
            "decay_steps",
            "log_every",
            "checkpoint_every",
            "dead_window",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive.")
        checks = (
            (
                self.lr > 0 and np.isfinite(self.lr),
                f"--lr must be a positive number, not {self.lr}.",
            ),
            (np.isfinite(self.tilt), f"--tilt must be a finite number, not {self.tilt}."),
            (
                0 <= self.val_fraction < 1,
                f"val_fraction must be in [0, 1), not {self.val_fraction}.",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self._validate_tilt()
        self._validate_schedule()
        return self

    def _validate_schedule(self) -> None:
        if min(self.sparsity_warmup, self.resample_every, self.extend) < 0 or self.target_l0 < 0:
            raise ConfigError(
                "sparsity_warmup, resample_every, target_l0 and extend must be >= 0 (0 turns them"
                " off)."
            )
        if self.aim not in ("tokens", "clusters"):
            raise ConfigError(f"aim must be 'tokens' or 'clusters', not {self.aim!r}.")
        if not 0 < self.resample_until <= 1:
            raise ConfigError(f"resample_until must be in (0, 1], not {self.resample_until}.")

    def schedule(self) -> SparsitySchedule:
        """The run's sparsity schedule (warm-up, L0 steering), one factor per SAE."""
        k = len(self.stack_sparsity)
        return SparsitySchedule(
            k, self.steps, self.sparsity_warmup, self.decay_steps, self.target_l0
        )

    def resamples_at(self, step: int) -> bool:
        """Whether dead latents are resampled after step ``step`` (0-based)."""
        every = self.resample_every
        return (
            bool(every)
            and step > 0
            and step % every == 0
            and step < self.resample_until * self.steps
        )

    def _validate_tilt(self) -> None:
        if self.tilt_scale not in ("absolute", "relative"):
            raise ConfigError(
                f"tilt_scale must be 'absolute' or 'relative', not {self.tilt_scale!r}."
            )
        shares = (self.target_ess, *self.ess_sweep)
        if not all(0 <= e <= 1 for e in shares) or 0 in self.ess_sweep:
            raise ConfigError(
                f"Effective sample shares must be in (0, 1] (target_ess 0: off); got {shares}."
            )
        if not all(np.isfinite(t) for t in self.tilt_sweep):
            raise ConfigError(f"tilt_sweep values must be finite; got {list(self.tilt_sweep)}.")
        given = [bool(v) for v in (self.tilt, self.target_ess, self.tilt_sweep, self.ess_sweep)]
        if sum(given) > 1 or (self.objective != "term" and sum(given[1:])):
            raise ConfigError(
                "Give TERM one of --tilt, --target-ess, --tilt-sweep or --ess-sweep, with"
                " --objective term."
            )

    @property
    def tilts(self) -> tuple[Tilt, ...]:
        """The run's tilts, one per curve; SSAE i has ``tilts[i // len(sparsity)]`` and
        ``sparsity[i % len(sparsity)]``."""
        relative = self.tilt_scale == "relative"
        if self.objective != "term":
            return (Tilt(),)
        if self.ess_sweep:
            return tuple(Tilt(ess=e) for e in self.ess_sweep)
        if self.tilt_sweep:
            return tuple(Tilt(t, relative=relative) for t in self.tilt_sweep)
        return (Tilt(self.tilt, self.target_ess, relative),)

    @property
    def curve_labels(self) -> list[str]:
        """Per curve (tilt) of the run: "" (ERM) or how it tilts, e.g. "t=500", "t=2 rel",
        "ESS 0.2"."""
        return [t.label if self.objective == "term" else "" for t in self.tilts]

    @property
    def tilt_label(self) -> str:
        """How this run tilts, for labels: "" (ERM), "t=500", "ESS 0.2" or a sweep's labels."""
        return ", ".join(self.curve_labels)

    @property
    def stack_sparsity(self) -> tuple[float, ...]:
        """The sparsity value of every SSAE of the run, in SAE order (tilt-major)."""
        return self.sparsity * len(self.tilts)

    def tilt_of(self, sae: int) -> Tilt:
        return self.tilts[sae // len(self.sparsity)]

    def curve_of(self, sae: int) -> str:
        return self.curve_labels[sae // len(self.sparsity)]


RECIPE = dict(
    sparsity=(DEFAULT_L1,), steps=2000, batch_tokens=4096, lr=1e-3, extend=512, aim="clusters"
)
"""The default recipe's fields (``FinetuneConfig.recipe``); the LR decays over the last fifth."""
