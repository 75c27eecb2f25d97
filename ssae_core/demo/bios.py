"""The demo world's SHIFT task, ``demo:bios``: biographies of a physicist or a surgeon written with
"she" or "he", the pronoun agreeing with the profession in the biased training split."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ssae_core.analysis.shift.task import (
    BIOS_CUES,
    BIOS_LABELS,
    DEMO_TASK,
    Task,
    TaskConfig,
    finish_task,
    group_sizes,
)
from ssae_core.demo import corpus, lexicon
from ssae_core.demo.corpus import WorldConfig
from ssae_core.demo.data import world_of

if TYPE_CHECKING:
    from ssae_core.models.base import Base


def demo_task(world_cfg: WorldConfig, cfg: TaskConfig) -> Task:
    """demo:bios: title-less biographies of a physicist or a surgeon ("physics" / "medicine"),
    written with "she" or "he"; the world's LM has seen biographies like them."""
    sizes = sum(group_sizes(cfg.validate()).values())
    texts, label, cue = [], [], []
    for y, domain in enumerate(BIOS_LABELS):
        for c, pronoun in enumerate(BIOS_CUES):
            g = 2 * y + c
            texts += corpus.bios(world_cfg, domain, pronoun, int(sizes[g]), f"task{cfg.seed}")
            label += [y] * sizes[g]
            cue += [c] * sizes[g]
    words = tuple(w for c in BIOS_CUES for w in lexicon.PRONOUNS[c])
    return finish_task(
        DEMO_TASK, texts, np.array(label), np.array(cue), BIOS_LABELS, BIOS_CUES, cfg, words
    )


def bios_of(base: Base) -> Callable[[TaskConfig], Task] | None:
    """``demo:bios`` for a demo base (the builder ``shift.task.load_task`` takes), else None."""
    world = world_of(base)
    return None if world is None else partial(demo_task, world.config.world)
