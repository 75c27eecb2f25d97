"""Recipe step 4, analysis of what specialization changed: dark matter (per-token error, linear
vs nonlinear error), latent-by-latent changes against the GSAE, SHIFT and autointerp. Imports
the stages below it (``evaluate``, ``train``, ``select``, ``models``) and ``infra``."""
