"""Workspaces built by earlier code still work with today's: the same calls delete nothing, and
rebuild only what changed on purpose since (tests/fixtures/workspace_stages.tar.gz, built for demo
world v4, must be found whole)."""

import tarfile
from pathlib import Path

import pytest
from fixtures.make_old_workspace import run_all

from ssae_core.infra.workspace import Workspace

FIXTURES = Path(__file__).parents[1] / "fixtures"


def artifacts(root: Path) -> set[str]:
    return {f"{p.parent.name}/{p.name}" for p in root.glob("*/*") if p.is_dir()}


REBUILT_SINCE_7E9A8D9 = {
    "corpus",
    "tokenizer",
    "lm",
    "gsae",
    "activations",
    "world_report",
    "selection",
    "ssae",
    "sae_eval",
}
"""Everything: demo world v4 added the retrieval pool to the corpus, on which all else depends
(before that, 7e9a8d9's corpus, tokenizer and LM were found, and only what names the demo GSAE,
whose trainer changed, was rebuilt)."""


REBUILT_SINCE_V4 = {"selection", "activations", "ssae", "sae_eval"}
"""The selection (TracIn's L1 coefficient became the finetune's, 5.0, which is part of every
selection's key), its activations, and the comparison's SSAEs (the default recipe: extension) with
their evaluations; the world itself is found."""


@pytest.mark.parametrize(
    "fixture, rebuilt",
    [
        ("old_workspace.tar.gz", REBUILT_SINCE_7E9A8D9),  # built by 7e9a8d9, before the layout
        ("workspace_stages.tar.gz", REBUILT_SINCE_V4),  # built for world v4
    ],
)
def test_a_workspace_built_by_earlier_code_is_found(tmp_path, fixture, rebuilt):
    with tarfile.open(FIXTURES / fixture) as tar:
        tar.extractall(tmp_path, filter="data")
    root = tmp_path / "ws"
    before = artifacts(root)
    assert {a.split("/")[0] for a in before} >= {"corpus", "lm", "selection", "ssae", "sae_eval"}
    run_all(Workspace(root))
    after = artifacts(root)
    assert before <= after, "nothing is deleted"
    assert {a.split("/")[0] for a in after - before} == rebuilt
