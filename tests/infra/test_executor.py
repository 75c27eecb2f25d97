"""The executors: the study's sweeps as Ray tasks on a local Ray instance give the local
executor's weights; a task's progress, failure and cancellation reach the caller."""

from __future__ import annotations

import hashlib
import json
import sys
import time

import pytest
from helpers import run_cli, world_only

from ssae_core.infra.errors import ConfigError
from ssae_core.infra.executor import (
    Context,
    ExecutorConfig,
    LocalExecutor,
    RayExecutor,
    Task,
    make,
    save_setting,
    setting,
)
from ssae_core.infra.progress import Progress
from ssae_core.infra.workspace import Workspace


class Recorder(Progress):
    """Keeps the log lines and the updates; raises KeyboardInterrupt at update ``stop_at``."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.lines, self.updates, self.stop_at = [], 0, stop_at

    def log(self, message: str) -> None:
        self.lines.append(message)

    def update(self, n: int = 1, **info) -> None:
        self.updates += n
        if self.stop_at is not None and self.updates >= self.stop_at:
            raise KeyboardInterrupt


def _write_after(context: Context, path: str, seconds: float) -> str:
    context.progress.log(f"sleeping {seconds} s")
    time.sleep(seconds)
    with open(path, "w") as fh:
        fh.write("finished")
    return path


def _refuse(context: Context) -> None:
    raise ConfigError("This unit refuses: give it a better value.")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield RayExecutor(ExecutorConfig("ray"), poll_s=0.1)
    ray.shutdown()


def test_ray_tasks_report_progress_and_failures(local_ray, tmp_path):
    ws = Workspace(tmp_path / "ws")
    progress = Recorder()
    context = Context(ws, None, "cpu", progress)
    tasks = [Task(f"unit {i}", _write_after, (str(tmp_path / f"{i}.txt"), 0.2)) for i in range(3)]
    assert local_ray.run(tasks, context) == [str(tmp_path / f"{i}.txt") for i in range(3)]
    assert progress.updates == 3
    assert {f"unit {i}: sleeping 0.2 s" for i in range(3)} <= set(progress.lines)
    assert {f"unit {i}: done" for i in range(3)} <= set(progress.lines)
    with pytest.raises(ConfigError, match="refuses: give it a better value"):
        local_ray.run([Task("bad", _refuse)], context)


def test_cancelling_the_caller_cancels_pending_ray_tasks(local_ray, tmp_path):
    context = Context(Workspace(tmp_path / "ws"), None, "cpu", Recorder(stop_at=1))
    quick, slow = tmp_path / "quick.txt", tmp_path / "slow.txt"
    tasks = [
        Task("quick", _write_after, (str(quick), 0.0)),
        Task("slow", _write_after, (str(slow), 4.0)),
    ]
    with pytest.raises(KeyboardInterrupt):
        local_ray.run(tasks, context)
    time.sleep(5)
    assert quick.exists() and not slow.exists()  # the finished unit kept, the pending one killed


def test_local_executor_runs_in_order_with_the_callers_progress(tmp_path):
    progress = Recorder()
    context = Context(Workspace(tmp_path / "ws"), None, "cpu", progress)
    paths = [str(tmp_path / f"{i}.txt") for i in range(2)]
    assert (
        LocalExecutor().run(
            [Task(f"u{i}", _write_after, (p, 0)) for i, p in enumerate(paths)], context
        )
        == paths
    )
    assert progress.lines == ["u0", "sleeping 0 s", "u1", "sleeping 0 s"]


def test_the_workspace_setting_picks_the_executor(tmp_path):
    ws = Workspace(tmp_path / "ws")
    assert setting(ws) == ExecutorConfig() and isinstance(make(setting(ws)), LocalExecutor)
    save_setting(ws, ExecutorConfig("ray", ray_address="head:6379"))
    chosen = make(setting(ws))
    assert isinstance(chosen, RayExecutor) and chosen.cfg.ray_address == "head:6379"
    with pytest.raises(ConfigError, match="executor must be"):
        save_setting(ws, ExecutorConfig("slurm"))


def _weights(ws: Workspace) -> dict[str, str]:
    """SHA-256 of every SSAE weight file, by path inside the workspace."""
    return {
        str(f.relative_to(ws.root)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted((ws.root / "ssae").glob("*/sae_*/*.safetensors"))
    }


@pytest.mark.slow
def test_study_through_local_ray_leaves_the_local_executors_artifacts(quick_build, tmp_path):
    """``study --executor ray`` on a local Ray instance (2 CPUs), in a workspace holding only the
    world: its selections and sweeps run as Ray tasks, and the weights and the cell's numbers equal
    the local executor's (the session's workspace, shared with the other study test)."""
    root, _ = quick_build
    ray_ws = world_only(root, tmp_path / "ws")
    cmd = ["study", "--quick", "--seeds", "0", "--backend", "offline", "--device", "cpu"]
    cells = {}
    for name, ws, extra in (
        ("local", Workspace(root), ["--executor", "local"]),
        ("ray", ray_ws, ["--executor", "ray", "--ray-cpus", "2"]),
    ):
        out = tmp_path / f"{name}-study"
        run_cli(*cmd, "--workspace", str(ws.root), "--out", str(out), *extra, process=True)
        found = json.loads((out / "study.json").read_text())["cells"]
        cells[name] = [{k: v for k, v in c.items() if k != "seconds"} for c in found]
    ray_weights, local_weights = _weights(ray_ws), _weights(Workspace(root))
    assert len(ray_weights) == 3 * 6 + 2 * 3 + 3  # 6 ERM sweeps, the ESS sweep (2 tilts), t = 500
    assert {path: local_weights.get(path) for path in ray_weights} == ray_weights
    # equal up to the last bits of the dark-matter least squares (LAPACK's threading differs
    # between any two processes, Ray or not)
    assert _close(cells["ray"], cells["local"])


def _close(a, b) -> bool:
    """Equal structures, floats within a relative 1e-9."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12, nan_ok=True)
    return a == b
