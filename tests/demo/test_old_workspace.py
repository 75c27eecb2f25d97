"""A workspace built before the stage layout (tests/fixtures/old_workspace.tar.gz, made by the
code of 7e9a8d9) is found whole by today's code: the same calls build nothing."""

import tarfile
from pathlib import Path

from fixtures.make_old_workspace import run_all

from ssae_core.infra.workspace import Workspace

FIXTURE = Path(__file__).parents[1] / "fixtures" / "old_workspace.tar.gz"


def artifacts(root: Path) -> set[str]:
    return {f"{p.parent.name}/{p.name}" for p in root.glob("*/*") if p.is_dir()}


def test_a_workspace_built_before_the_restructuring_needs_no_rebuild(tmp_path):
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    root = tmp_path / "ws"
    before = artifacts(root)
    assert {a.split("/")[0] for a in before} >= {
        "corpus", "tokenizer", "lm", "sae", "world_report", "selection", "activations", "ssae",
        "sae_eval",
    }  # fmt: skip
    run_all(Workspace(root))
    assert artifacts(root) == before
