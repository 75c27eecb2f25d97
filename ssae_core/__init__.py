"""SSAE Studio's engine: one package per step of the recipe, each importing only those below it
(an import-linter ``layers`` contract; ARCHITECTURE.md has the picture).

``infra`` (config, workspace, jobs, executors) < ``models`` (base, SAEs, activations) <
``select`` (seeds to a selection) < ``train`` (finetuning, GSAE training) < ``evaluate``
(metrics, features, concept recall) < ``analysis`` (dark matter, specialization, SHIFT,
autointerp) < ``report`` (tables, figures, HTML, Neuronpedia) < ``demo`` (the demo world, a
base source) < ``study`` < ``cli``. Nothing here imports streamlit.
"""
