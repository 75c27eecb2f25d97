"""The demo world's configuration: text, tokenizer, LM, GSAE and report, one frozen dataclass
each; ``DemoConfig.quick()`` is the miniature the tests build."""

from __future__ import annotations

from dataclasses import dataclass, field

from ssae_core.demo import corpus, lm
from ssae_core.infra.config import Config
from ssae_core.train.gsae import GSAETrainConfig

GSAE = GSAETrainConfig(
    sparsity=5.0,
    steps=20_000,
    batch_tokens=1024,
    lr=1e-3,
    sparsity_warmup=0.2,
    resample_every=1000,
)
"""The demo GSAE: ReLU + L1 at 5.0, 8x wide, many small steps (concept features need the
updates), the L1 coefficient warmed up over the first fifth, dead latents resampled every 1,000
steps."""


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
    gsae: GSAETrainConfig = GSAE
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
                n_pool_docs=1500,
            ),
            lm=lm.LMConfig(n_layers=2, d_model=64, n_heads=2, d_mlp=256, steps=80, batch_size=16),
            gsae=GSAE.replace(sparsity=3.0, steps=200, resample_every=50),
        )

    @property
    def hook_name(self) -> str:
        return self.gsae.hook or f"blocks.{self.lm.n_layers // 2}.hook_resid_post"
