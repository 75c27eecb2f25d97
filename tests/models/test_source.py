"""Base sources: the registry, the data a source ships (``BaseData``) and the loader an executor
ships to its workers. Nothing below ``ssae_core.demo`` needs the demo world to do this."""

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import ROOT, random_sae

from ssae_core.evaluate.evaluation import named_split
from ssae_core.infra.errors import ConfigError, LoadError
from ssae_core.infra.progress import Silent
from ssae_core.infra.workspace import Workspace
from ssae_core.models import base as base_module
from ssae_core.models.base import Base, BaseSpec, load_base, loader_for, register_source
from ssae_core.models.source import BaseData, TextSet
from ssae_core.select.selection import data_text_names, named_texts


def _python(code: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], input=stdin, capture_output=True, cwd=ROOT, timeout=300
    )


def test_the_models_layer_loads_without_the_demo_world_and_says_how_to_register_it():
    code = (
        "import sys\n"
        "from ssae_core.models.base import BaseSpec, load_base\n"
        "from ssae_core.infra.errors import LoadError\n"
        "assert not any(m.startswith('ssae_core.demo') for m in sys.modules), 'demo imported'\n"
        "try:\n"
        "    load_base(BaseSpec(source='demo'))\n"
        "except LoadError as e:\n"
        "    print(e)\n"
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr.decode()
    message = out.stdout.decode()
    assert "Unknown base source 'demo'" in message and "import ssae_core.demo" in message
    assert "'release'" in message and "'local'" in message


class ToyData(BaseData):
    """Two documents of token ids and one subdomain: the smallest data a base can ship."""

    name = "toy"

    @property
    def ref(self):
        return "toy/1"

    @property
    def subdomains(self):
        return ["physics"]

    @property
    def test_splits(self):
        return ["physics_test"]

    def text_set(self, split):
        rows = {"general": ["a b", "c d"], "physics_seed": ["quark spin"]}[split]
        return TextSet(pd.DataFrame({"doc_id": range(len(rows)), "text": rows}))

    def split_tokens(self, split):
        return [np.array([1, 2, 3]), np.array([4, 5])] if split == "physics_test" else []

    def split_labels(self, split):
        return [np.array([-1, 0, -1]), np.array([-1, -1])]

    def split_ref(self, split):
        return f"{self.ref}:{split}"

    @property
    def concepts(self):
        return pd.DataFrame(
            {"concept_id": [0], "key": ["quark"], "domain": ["physics"], "bucket": ["rare"]}
        ).assign(subdomain=True)

    def in_domain(self, subdomain, split="general"):
        return pd.Series([False, False], index=[0, 1])


def _toy_loader(spec, workspace, device, progress):
    sae = random_sae(8, 16)
    return Base(torch.nn.Identity(), sae, "blocks.0.hook_resid_post", spec, ToyData())


def test_a_registered_source_ships_its_texts_and_splits_to_every_stage(monkeypatch):
    monkeypatch.setattr(base_module, "_SOURCES", dict(base_module._SOURCES))
    register_source("toy", _toy_loader)
    loaded = load_base(BaseSpec(source="toy"), device="cpu")
    assert isinstance(loaded.data, ToyData) and loaded.ref == "toy/1"
    assert named_texts("toy", loaded.data).texts == ["a b", "c d"]
    assert named_texts("toy:physics", loaded.data).texts == ["quark spin"]
    assert data_text_names(loaded.data) == (["toy:physics"], ["toy"])
    split = named_split(loaded.data, "physics_test")
    assert split.ref == "toy/1:physics_test" and [len(d) for d in split.docs] == [3, 2]
    with pytest.raises(ConfigError, match="has no split 'astro_test'.*physics_test"):
        named_split(loaded.data, "astro_test")
    assert loaded.data.concept_splits() == {"general_test": [], "physics_test": ["physics"]}


def test_a_source_name_without_its_base_says_which_base_to_load(tmp_path):
    with pytest.raises(ConfigError, match="needs the demo base"):
        named_texts("demo:physics", None, role="seeds")
    with pytest.raises(LoadError, match="registered sources"):
        loader_for(BaseSpec().replace(source="nowhere"))


def test_the_demo_loader_travels_by_reference_and_registers_the_demo_where_it_lands(quick_world):
    from ssae_core.demo.world import world_base

    base = world_base(quick_world, BaseSpec(quick=True))
    context = base.context(Workspace(quick_world.corpus_art.path.parents[1]), "cpu", Silent())
    assert context.base() is base, "the loaded base is reused, not loaded again"
    payload = pickle.dumps((context.loader, context.spec))
    code = (
        "import pickle, sys\n"
        "loader, spec = pickle.loads(sys.stdin.buffer.read())\n"
        "from ssae_core.models.base import loader_for\n"
        "print(loader.__module__, loader_for(spec) is loader)\n"
    )
    out = _python(code, payload)
    assert out.returncode == 0, out.stderr.decode()
    last = out.stdout.decode().strip().splitlines()[-1]  # libraries may print before it
    assert last.split() == ["ssae_core.demo.world", "True"], out.stdout.decode()
