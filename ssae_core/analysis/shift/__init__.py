"""SHIFT: remove a spurious cue from a probe with SAE latents, and measure worst-group accuracy.

``task`` (the classification task and its biased / balanced splits), ``probe`` (the linear
probe and accuracy by group), ``latents`` (pooling, attribution, ablation), ``run`` (the
``shift`` and ``shift_score`` artifacts), ``ssae`` (an SSAE finetuned on the task's domain).
"""
