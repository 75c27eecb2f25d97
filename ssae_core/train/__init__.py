"""Recipe step 2, training: finetuning a GSAE into SSAEs with ERM or tilted ERM (a sparsity
sweep, checkpoints, resume) and training a GSAE from scratch for a model that has none.
Imports ``select``, ``models`` and ``infra``."""
