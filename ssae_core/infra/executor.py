"""Where a job's independent units of work run: in this process (``local``, the default) or as
Ray tasks on a cluster (``ray``).

A unit is a ``Task``: a module-level function, its (picklable) arguments and the resources it
declares (a GPU where the cluster has them, CPUs). Every unit writes workspace artifacts and
returns something small (an artifact ref), so both executors leave the same artifacts behind:

- ``LocalExecutor`` calls the functions one after another with the caller's loaded base.
- ``RayExecutor`` submits one Ray task per unit and waits. Each task loads the base from its
  ``BaseSpec`` (once per worker process) on the device its worker was given (a CUDA device when
  the task got a GPU; ``--device`` applies to the calling process only) and writes into the same
  workspace, which must therefore sit at the same path on every node (a shared filesystem: NFS,
  Lustre, a cloud file store; the workspace's locks are ``flock``s, which those support). The
  tasks' progress reaches the caller's ``Progress`` through a Ray queue: a finished task
  advances the bar, each task's stages are logged under its label. Cancelling the calling job
  (its progress report raises, or SIGTERM) cancels every pending task with
  ``ray.cancel(force=True)``; finished units keep their artifacts and the next run reuses them.

The choice is an ``ExecutorConfig``: the CLI's ``--executor`` / ``--ray-address``, else the
workspace's setting (``executor.json``, written by the dashboard's Home page), else local.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ssae_core.infra.config import Config
from ssae_core.infra.device import pick_device
from ssae_core.infra.errors import ConfigError, SSAEError
from ssae_core.infra.progress import Progress
from ssae_core.infra.workspace import Workspace, atomic_write_json

SETTING_FILE = "executor.json"


@dataclass(frozen=True)
class ExecutorConfig(Config):
    """Where a job's units of work run."""

    executor: Literal["local", "ray"] = "local"
    """local: this process, one unit after another; ray: one Ray task per unit (a sweep's SAE
    groups across the cluster's GPUs)."""
    ray_address: str = ""
    """The Ray cluster to join (auto, HOST:6379 or ray://HOST:10001); empty: start a Ray instance
    on this machine for the job."""
    ray_cpus: int = 0
    """CPUs of a Ray instance started here (0: all of them)."""

    def validate(self) -> ExecutorConfig:
        if self.executor not in ("local", "ray"):
            raise ConfigError(f"executor must be 'local' or 'ray', not {self.executor!r}.")
        if self.ray_cpus < 0:
            raise ConfigError("ray_cpus must be 0 (all cores) or a positive number of CPUs.")
        return self


def setting(ws: Workspace) -> ExecutorConfig:
    """The workspace's executor (local when none was saved)."""
    path = ws.root / SETTING_FILE
    return (
        ExecutorConfig.from_dict(json.loads(path.read_text()))
        if path.exists()
        else ExecutorConfig()
    )


def save_setting(ws: Workspace, cfg: ExecutorConfig) -> None:
    """Make ``cfg`` the executor of the jobs this workspace's dashboard launches."""
    ws.ensure_writable()
    atomic_write_json(ws.root / SETTING_FILE, cfg.validate().to_dict())


@dataclass
class Context:
    """What a unit of work gets besides its arguments: the workspace, the base (loaded on first
    use), the device request and where to report progress."""

    ws: Workspace
    spec: Any
    """The base's ``models.base.BaseSpec`` (None for units that need no base)."""
    device: str | None
    progress: Progress
    loaded: Any = None
    """The ``models.base.Base``, once loaded."""
    loader: Callable[..., Any] | None = None
    """``(spec, workspace, device, progress) -> Base`` (``models.base.loader_for``): a
    module-level function, shipped by reference to the processes that run the units."""

    def base(self):
        if self.loaded is None:
            if self.loader is None:
                raise ConfigError("This job's units need a base, but none was given to load.")
            self.loaded = self.loader(self.spec, self.ws, pick_device(self.device), self.progress)
        return self.loaded


@dataclass(frozen=True)
class Task:
    """One unit: ``fn(context, *args)``, a module-level function returning something small."""

    label: str
    fn: Callable[..., Any]
    args: tuple = ()
    gpu: bool = False
    """Wants one GPU (where the cluster has any; a CPU otherwise)."""
    cpus: int = 1


class Executor(ABC):
    """Runs tasks; results come back in the tasks' order."""

    @abstractmethod
    def run(self, tasks: list[Task], context: Context) -> list[Any]: ...


class LocalExecutor(Executor):
    """Today's behaviour: every task in this process, in order, sharing the caller's base."""

    def run(self, tasks: list[Task], context: Context) -> list[Any]:
        results = []
        for task in tasks:
            context.progress.log(task.label)
            results.append(task.fn(context, *task.args))
        return results


@dataclass
class RayExecutor(Executor):
    """One Ray task per unit, with its declared resources; see the module docstring."""

    cfg: ExecutorConfig = field(default_factory=ExecutorConfig)
    poll_s: float = 0.5
    queue: Any = None
    """The progress queue (a Ray actor), made by the first run and kept for the next."""
    runs: int = 0

    def run(self, tasks: list[Task], context: Context) -> list[Any]:
        import ray
        from ray.util.queue import Queue

        if not tasks:
            return []
        connect(self.cfg)
        cluster = ray.cluster_resources()
        gpus = cluster.get("GPU", 0) > 0
        self.queue = self.queue or Queue()
        self.runs += 1
        queue, remote = self.queue, ray.remote(_run_remote)
        refs = [
            remote.options(
                num_cpus=t.cpus, num_gpus=1 if t.gpu and gpus else 0, name=t.label
            ).remote(
                t.fn,
                t.args,
                str(context.ws.root),
                context.spec,
                context.loader,
                queue,
                (self.runs, i),
            )
            for i, t in enumerate(tasks)
        ]
        progress = context.progress
        progress.stage(f"{len(tasks)} Ray tasks", len(tasks))
        progress.log(
            f"Ray cluster {self.cfg.ray_address or '(local)'}: {cluster.get('CPU', 0):g} CPUs,"
            f" {cluster.get('GPU', 0):g} GPUs"
        )
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(tasks)
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=self.poll_s)
                self._relay(tasks, progress)
                for ref in ready:
                    results[index[ref]] = _result(ray, ref, tasks[index[ref]].label)
                    progress.log(f"{tasks[index[ref]].label}: done")
                progress.update(len(ready), running=len(pending))
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            self._relay(tasks, progress)
        return results

    def _relay(self, tasks: list[Task], progress: Progress) -> None:
        """This run's tasks' messages to ``progress`` (a cancelled run's late ones dropped)."""
        for (run, index), message in self.queue.get_nowait_batch(self.queue.qsize()):
            if run == self.runs:
                progress.log(f"{tasks[index].label}: {message}")


def make(cfg: ExecutorConfig) -> Executor:
    """The executor ``cfg`` names."""
    return RayExecutor(cfg) if cfg.validate().executor == "ray" else LocalExecutor()


def connect(cfg: ExecutorConfig) -> None:
    """Join ``cfg.ray_address`` or start a Ray instance here (once per process)."""
    import ray

    import ssae_core

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = dict(
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        # the workers import this package from the driver's copy (any node of the cluster)
        runtime_env={"py_modules": [ssae_core]},
    )
    if cfg.ray_address:
        kwargs["address"] = cfg.ray_address
    elif cfg.ray_cpus:
        kwargs["num_cpus"] = cfg.ray_cpus
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ConfigError(
            f"Could not reach the Ray cluster at {cfg.ray_address or 'this machine'}: {err}."
            " Check --ray-address (HOST:6379 or ray://HOST:10001) and that `ray status` there"
            " lists the cluster, or use --executor local."
        ) from err


class _Relay(Progress):
    """A Ray task's progress: stages and log lines into the queue (updates are counted there)."""

    def __init__(self, queue, index: tuple[int, int]) -> None:
        self.queue, self.index = queue, index

    def stage(self, name: str, total: int | None = None) -> None:
        self.log(name)

    def log(self, message: str) -> None:
        self.queue.put_nowait((self.index, message))


_WORKER_BASES: dict[tuple, Any] = {}
"""Bases loaded in this Ray worker process, by (workspace, spec): a worker runs many
tasks."""


def _run_remote(fn, args, root: str, spec, loader, queue, index: tuple[int, int]):
    key = (root, spec)
    context = Context(
        Workspace(root), spec, None, _Relay(queue, index), _WORKER_BASES.get(key), loader
    )
    result = fn(context, *args)
    if context.loaded is not None:
        _WORKER_BASES[key] = context.loaded
    return result


def _result(ray, ref, label: str):
    """The task's value; its own error (an SSAEError keeps its message) when it failed."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = err.cause
        if isinstance(cause, SSAEError):
            raise cause from None
        raise RuntimeError(f"Ray task {label!r} failed: {cause!r}") from cause
