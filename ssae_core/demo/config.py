"""The demo world's configuration: text, tokenizer, LM, GSAE and report, one frozen dataclass
each; ``DemoConfig.quick()`` is the miniature the tests build."""

from __future__ import annotations

from dataclasses import dataclass, field

from ssae_core.demo import corpus, gsae, lm
from ssae_core.infra.config import Config


@dataclass(frozen=True)
class TokenizerConfig(Config):
    kind: str = "word-level"


@dataclass(frozen=True)
class ReportConfig(Config):
    recall_threshold: float = 0.5
    lens_k: int = 10  # logit-lens tokens per feature for the rare-token coverage
    version: int = 3
    """2: held-out thresholds, token- and context-level ground truth. 3: rare-token coverage."""


@dataclass(frozen=True)
class DemoConfig(Config):
    """The whole demo world: text, LM, GSAE. ``quick()`` is the miniature for tests."""

    world: corpus.WorldConfig = field(default_factory=corpus.WorldConfig)
    lm: lm.LMConfig = field(default_factory=lm.LMConfig)
    gsae: gsae.GSAEConfig = field(default_factory=gsae.GSAEConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    @classmethod
    def quick(cls) -> DemoConfig:
        return cls(
            world=corpus.WorldConfig(
                n_general_docs=2500,
                n_general_test_docs=200,
                seed_tokens=2000,
                n_test_docs=60,
                n_ood_docs=60,
            ),
            lm=lm.LMConfig(n_layers=2, d_model=64, n_heads=2, d_mlp=256, steps=80, batch_size=16),
            gsae=gsae.GSAEConfig(l1=3.0, steps=200, batch_size=1024, resample_every=50),
        )

    @property
    def hook_name(self) -> str:
        layer = self.gsae.layer if self.gsae.layer >= 0 else self.lm.n_layers // 2
        return f"blocks.{layer}.hook_resid_post"
