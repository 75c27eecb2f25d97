"""Recipe step 3, evaluation: spliced-in CE, KL and SAEBench's core metrics per SAE and split in
one LM pass, per-feature statistics, tail-token coverage, ground-truth concept recall, and the
set of SAEs a comparison names. Imports ``train``, ``select``, ``models`` and ``infra``."""
