import json
import os
from dataclasses import dataclass

import pytest

from ssae_core.infra.config import Config
from ssae_core.infra.errors import WorkspaceError
from ssae_core.infra.workspace import MANIFEST, Workspace, atomic_write_json


@dataclass(frozen=True)
class Cfg(Config):
    n: int = 3


def writer(calls):
    def build(out):
        calls.append(out)
        (out / "data.txt").write_text("x" * 100)
        (out / "sub").mkdir()
        (out / "sub" / "more.bin").write_bytes(b"\x00\x01" * 10)
        return {"n_lines": 1}

    return build


def test_build_writes_manifest_and_reuses(tmp_path):
    ws = Workspace(tmp_path)
    calls = []
    art = ws.build("thing", Cfg(), writer(calls))
    again = ws.build("thing", Cfg(), writer(calls))
    assert len(calls) == 1 and again.path == art.path
    manifest = json.loads((art.path / MANIFEST).read_text())
    assert manifest["config"] == {"n": 3}
    assert set(manifest["files"]) == {"data.txt", "sub/more.bin"}
    assert manifest["files"]["data.txt"]["size"] == 100
    assert "torch" in manifest["versions"] and manifest["summary"] == {"n_lines": 1}
    assert ws.find("thing", Cfg()).path == art.path
    assert ws.find("thing", Cfg(n=4)) is None


def test_inputs_change_the_key(tmp_path):
    ws = Workspace(tmp_path)
    a = ws.build("thing", Cfg(), writer([]), inputs=["corpus/aaa"])
    b = ws.build("thing", Cfg(), writer([]), inputs=["corpus/bbb"])
    assert a.path != b.path


def test_failed_build_leaves_nothing(tmp_path):
    ws = Workspace(tmp_path)

    def broken(out):
        (out / "half.txt").write_text("partial")
        raise RuntimeError("crash mid-build")

    with pytest.raises(RuntimeError):
        ws.build("thing", Cfg(), broken)
    assert list((tmp_path / "thing").iterdir()) == [
        p for p in (tmp_path / "thing").iterdir() if p.name.endswith(".lock")
    ]
    assert ws.find("thing", Cfg()) is None


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_damaged_artifact_is_reported_then_moved_aside_and_rebuilt(tmp_path, damage):
    ws = Workspace(tmp_path)
    art = ws.build("thing", Cfg(), writer([]))
    target = art.path / "data.txt"
    if damage == "flip":
        target.write_text("y" + "x" * 99)
    elif damage == "truncate":
        target.write_text("x" * 10)
    elif damage == "delete":
        target.unlink()
    else:
        (art.path / MANIFEST).write_text("{not json")
    fresh = Workspace(tmp_path)  # a new process: nothing verified yet
    with pytest.raises(WorkspaceError, match="damaged"):
        fresh.open(art.path)
    calls = []
    rebuilt = fresh.build("thing", Cfg(), writer(calls))
    assert len(calls) == 1 and (rebuilt.path / "data.txt").read_text() == "x" * 100
    kept = [p for p in (tmp_path / "thing").iterdir() if p.name.startswith(".corrupt-")]
    assert len(kept) == 1, "the damaged copy is kept aside, not deleted"


def test_unwritable_workspace_says_what_to_do(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ws = Workspace(blocker / "ws")
    with pytest.raises(WorkspaceError, match="not writable.*--workspace"):
        ws.build("thing", Cfg(), writer([]))


def test_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SSAE_WORKSPACE", str(tmp_path / "env-ws"))
    assert Workspace().root == (tmp_path / "env-ws").resolve()


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "status.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(tmp_path) == ["status.json"]


def test_one_chain_declares_how_artifacts_are_built_and_found(tmp_path):
    ws = Workspace(tmp_path)
    calls = []

    def chain(step):
        first = step("first", Cfg(1), writer(calls))
        return first, step("second", Cfg(2), writer(calls), [first.ref])

    assert ws.find_chain(chain) is None and not calls, "a lookup builds nothing"
    built = chain(ws.build)
    assert len(calls) == 2
    found = ws.find_chain(chain)
    assert [a.ref for a in found] == [a.ref for a in built] and len(calls) == 2
    (built[1].path / "data.txt").write_text("changed")
    with pytest.raises(WorkspaceError, match="damaged"):
        Workspace(tmp_path).find_chain(chain)
