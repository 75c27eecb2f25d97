"""Shared fixtures: a quick demo world built once per test session, through the CLI."""

from __future__ import annotations

import json
import os

import pytest
from helpers import run_cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def quick_build(tmp_path_factory):
    """(workspace path, JSON summary) of ``demo build --quick`` run in a fresh workspace."""
    root = tmp_path_factory.mktemp("ws")
    proc = run_cli(
        "demo", "build", "--quick", "--json", "--device", "cpu", "--workspace", str(root)
    )
    return root, json.loads(proc.stdout)


@pytest.fixture(scope="session")
def quick_workspace(quick_build):
    from ssae_core.infra.workspace import Workspace

    return Workspace(quick_build[0])


@pytest.fixture(scope="session")
def quick_world(quick_workspace):
    from ssae_core.demo.world import DemoConfig, build

    return build(DemoConfig.quick(), quick_workspace, device="cpu")


@pytest.fixture(scope="session")
def quick_comparison(quick_world, quick_workspace):
    """The quick world's demo comparison (selection + ERM and TERM sweeps), evaluated on physics
    test / OOD."""
    from ssae_core.demo import comparison
    from ssae_core.demo.world import world_base
    from ssae_core.models.base import BaseSpec

    base = world_base(quick_world, BaseSpec(quick=True))
    arts = comparison.build(base, quick_workspace, comparison.DemoComparisonConfig.quick())
    comparison.evaluate_comparison(base, quick_workspace, arts, "physics")
    return arts
