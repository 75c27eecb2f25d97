"""What the demo-world study runs: subdomains, seeds, selection methods, sweeps, tilts."""

from __future__ import annotations

from dataclasses import dataclass

from ssae_core.evaluate.sae_set import group_name
from ssae_core.infra.config import Config
from ssae_core.infra.errors import ConfigError
from ssae_core.select.retrieval import METHODS, Method
from ssae_core.train.tilt import Tilt


@dataclass(frozen=True)
class StudyConfig(Config):
    """The whole study. A seed changes the finetuning (batch order, held-out documents), the
    general-corpus baseline's random draw and the autointerp / dark-matter samples; the world,
    its LM and GSAE, and the deterministic retrievers are shared by every seed."""

    quick: bool = False
    """The miniature demo world (a structure check, not evidence)."""
    subdomains: tuple[str, ...] = ("physics", "medicine")
    seeds: tuple[int, ...] = (0, 1, 2)
    methods: tuple[str, ...] = METHODS
    """Selection methods compared."""
    token_budget: int = 20_000
    encoder_tokens: int = 64
    """Word pieces the dense encoder reads per document."""
    sparsity: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0, 5.0, 6.5, 8.0, 11.0)
    """L1 coefficients of every sweep (around the world GSAE's own 5.0)."""
    tilt_method: Method = "dense"
    """The selection the TERM sweeps use."""
    ess_sweep: tuple[float, ...] = (0.5, 0.2, 0.05)
    """Scale-free TERM curves, all in one finetuning job: each batch's tilt picked for this
    effective sample share (1 = ERM)."""
    paper_tilts: tuple[float, ...] = (500.0,)
    """The paper's absolute tilts t, one more job (at this world's loss scale t = 500 puts nearly
    all weight on the worst token of a batch)."""
    focus_ess: float = 0.2
    """The TERM curve the single-SAE comparisons use (one of ``ess_sweep``)."""
    steps: int = 100
    batch_tokens: int = 2048
    lr: float = 2e-4
    widths: tuple[int, ...] = (2, 4)
    """GSAE expansions (d_sae / d_in) besides the world's own, for claim 8; each trained with its
    L1 coefficient steered to the world GSAE's L0."""
    autointerp_features: int = 30
    dark_matter_tokens: int = 15_000
    version: int = 4
    """4: TERM by effective sample share (a sweep in one job), widths at matched L0."""

    @classmethod
    def quick_config(cls) -> StudyConfig:
        """Minutes on a laptop: the miniature world, one subdomain, short sweeps."""
        return cls(
            quick=True,
            subdomains=("physics",),
            token_budget=3000,
            sparsity=(1.0, 2.5, 6.0),
            ess_sweep=(0.5, 0.1),
            focus_ess=0.1,
            steps=30,
            batch_tokens=256,
            lr=1e-3,
            widths=(2,),
            autointerp_features=8,
            dark_matter_tokens=3000,
        )

    def validate(self) -> StudyConfig:
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ConfigError(
                f"Unknown selection method(s) {unknown}; use any of {', '.join(METHODS)}."
            )
        if self.tilt_method not in self.methods or self.focus_ess not in self.ess_sweep:
            raise ConfigError(
                "tilt_method must be one of the methods and focus_ess one of the ess_sweep values."
            )
        if len(self.sparsity) < 2 or not self.seeds or not self.subdomains:
            raise ConfigError(
                "The study needs at least two sparsity values (a curve), one seed and one"
                " subdomain."
            )
        return self

    @property
    def term(self) -> str:
        """The focus TERM curve's name, e.g. ``dense TERM ESS 0.2``."""
        return group_name(self.tilt_method, Tilt(ess=self.focus_ess).label)

    @property
    def term_curves(self) -> list[str]:
        """Every TERM curve's name: the ESS sweep's, then the paper tilts'."""
        return [group_name(self.tilt_method, Tilt(ess=e).label) for e in self.ess_sweep] + [
            group_name(self.tilt_method, t) for t in self.paper_tilts
        ]

    def cell(self, subdomain: str, seed: int) -> StudyConfig:
        """The config of one (subdomain, seed) cell: it names that cell's artifact."""
        return self.replace(subdomains=(subdomain,), seeds=(seed,))
