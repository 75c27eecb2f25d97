"""A workspace built before the stage layout (tests/fixtures/old_workspace.tar.gz, made by the
code of 7e9a8d9) is found by today's code: the same calls build nothing but what depends on the
demo GSAE, which the one GSAE trainer (``train.gsae``) now trains as a ``gsae`` artifact."""

import tarfile
from pathlib import Path

import pytest
from fixtures.make_old_workspace import run_all

from ssae_core.infra.workspace import Workspace

FIXTURES = Path(__file__).parents[1] / "fixtures"


def artifacts(root: Path) -> set[str]:
    return {f"{p.parent.name}/{p.name}" for p in root.glob("*/*") if p.is_dir()}


REBUILT_SINCE_7E9A8D9 = {"gsae", "activations", "world_report", "selection", "ssae", "sae_eval"}
"""What names the demo GSAE among its inputs: its trainer changed on purpose after 7e9a8d9
(``sae`` artifacts of ``demo.gsae`` then, ``gsae`` of ``train.gsae`` now). The corpus, the
tokenizer and the LM are found."""


@pytest.mark.parametrize(
    "fixture, rebuilt",
    [
        ("old_workspace.tar.gz", REBUILT_SINCE_7E9A8D9),  # built by 7e9a8d9, before the layout
        ("workspace_stages.tar.gz", set()),  # built by the stage layout: nothing to rebuild
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
