"""The base and the SAEs themselves: loading a base (an LM and its general SAE) from a registered
source, the data a source may ship beside it (``source.BaseData``), model and SAE files, SAE
tensor math, K SAEs trained side by side, activation collection and caches, the logit lens.
Imports only ``infra``."""
