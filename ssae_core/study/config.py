"""What the demo-world study runs: subdomains, seeds, selection methods, sweeps, tilts."""

from __future__ import annotations

from dataclasses import dataclass

from ssae_core.config import Config
from ssae_core.errors import ConfigError
from ssae_core.retrieval import METHODS, Method


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
    sparsity: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.5, 7.0)
    """L1 coefficients of every sweep."""
    tilt_method: Method = "dense"
    """The selection the TERM sweeps use."""
    tilts: tuple[float, ...] = (0.01, 500.0, 1e9)
    paper_tilt: float = 500.0
    """The TERM sweep the single-SAE comparisons use."""
    steps: int = 100
    batch_tokens: int = 2048
    lr: float = 2e-4
    widths: tuple[int, ...] = (2, 4)
    """GSAE expansions (d_sae / d_in) besides the world's own, for claim 8."""
    autointerp_features: int = 30
    dark_matter_tokens: int = 15_000
    version: int = 3
    """3: concept recall by ground-truth kind with held-out thresholds."""

    @classmethod
    def quick_config(cls) -> StudyConfig:
        """Minutes on a laptop: the miniature world, one subdomain, short sweeps."""
        return cls(
            quick=True,
            subdomains=("physics",),
            token_budget=3000,
            sparsity=(1.0, 2.5, 6.0),
            tilts=(500.0, 1e9),
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
        if self.tilt_method not in self.methods or self.paper_tilt not in self.tilts:
            raise ConfigError(
                "tilt_method must be one of the methods and paper_tilt one of the tilts."
            )
        if len(self.sparsity) < 2 or not self.seeds or not self.subdomains:
            raise ConfigError(
                "The study needs at least two sparsity values (a curve), one seed and one"
                " subdomain."
            )
        return self

    def cell(self, subdomain: str, seed: int) -> StudyConfig:
        """The config of one (subdomain, seed) cell: it names that cell's artifact."""
        return self.replace(subdomains=(subdomain,), seeds=(seed,))
