"""A finetuning run's state outside its artifact, in ``<workspace>/runs/<key>/``: the checkpoint
a crashed or cancelled run resumes from (written atomically; a full disk is one
``WorkspaceError``) and the live log the Finetune page draws while the run goes on."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pandas as pd
import torch

from ssae_core.infra.errors import WorkspaceError
from ssae_core.infra.workspace import Workspace, atomic_write_bytes

LIVE_LOG = "log.parquet"  # in the run directory while training, removed with it at the end


def write_live_log(run_dir: Path, log: list[dict]) -> None:
    """The log so far as ``<run>/log.parquet``, for live curves while the run goes on."""
    run_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    pd.DataFrame(log).to_parquet(buf, index=False)
    atomic_write_bytes(run_dir / LIVE_LOG, buf.getvalue())


def latest_live_log(ws: Workspace) -> pd.DataFrame | None:
    """The live log of the most recently updated unfinished run in the workspace, if any.

    Training jobs run one at a time per device, so on a dashboard this is the running job's."""
    logs = (
        sorted((ws.root / "runs").glob(f"*/{LIVE_LOG}"), key=lambda p: p.stat().st_mtime)
        if (ws.root / "runs").exists()
        else []
    )
    return pd.read_parquet(logs[-1]) if logs else None


def save_checkpoint(path: Path, step: int, stack, opt, last_fired, log, schedule) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        torch.save(
            {
                "step": step,
                "stack": stack.state_dict(),
                "opt": opt.state_dict(),
                "last_fired": last_fired,
                "log": log,
                "schedule": schedule.state_dict(),
            },
            tmp,
        )
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise WorkspaceError(
                f"The disk is full: could not write a checkpoint to {path.parent}. Free space and"
                " run the same command again; it resumes from the last checkpoint."
            ) from exc
        raise


def resume(path: Path, stack, opt, last_fired, schedule) -> tuple[int, list[dict]]:
    """(step, log) of the checkpoint at ``path``, its state loaded into the rest; (0, []) when
    there is none."""
    if not path.exists():
        return 0, []
    state = torch.load(path, map_location=stack.coef.device, weights_only=False)
    stack.load_state_dict(state["stack"])
    opt.load_state_dict(state["opt"])
    last_fired.copy_(state["last_fired"])
    if "schedule" in state:  # checkpoints written before the schedule have its initial state
        schedule.load_state_dict(state["schedule"])
    return state["step"], state["log"]
