"""Background work: CLI commands run in a worker process that reports through a status file.

A job is ``python -m ssae_core <args> --status-file <ws>/jobs/<name>.json`` started in
its own session, so it survives a page reload or an app restart; its pid is kept next
to the status file, and a worker that died without finishing is reported as failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from ssae_core.workspace import Workspace, atomic_write_json


def _paths(ws: Workspace, name: str) -> tuple[Path, Path, Path]:
    base = ws.root / "jobs" / name
    return base.with_suffix(".json"), base.with_suffix(".pid"), base.with_suffix(".log")


def launch(ws: Workspace, name: str, args: list[str]) -> Path:
    """Start ``python -m ssae_core ARGS`` as job ``name``; returns its status file."""
    ws.ensure_writable()
    status, pid_file, log = _paths(ws, name)
    status.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(status, {"state": "starting", "stage": "", "done": 0, "total": None, "log": []})
    cmd = [sys.executable, "-m", "ssae_core", *args, "--workspace", str(ws.root), "--status-file", str(status)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=Path(__file__).parent.parent)
    pid_file.write_text(str(proc.pid))
    return status


def status(ws: Workspace, name: str) -> dict | None:
    """The job's last status, or None if it never ran; a dead unfinished worker reads as failed."""
    status_path, pid_file, log = _paths(ws, name)
    try:
        state = json.loads(status_path.read_text())
    except (OSError, ValueError):
        return None
    if state.get("state") in ("starting", "running") and not _alive(pid_file):
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        state.update(state="failed", error=f"The worker process stopped without finishing. Last output:\n{tail}")
    return state


def cancel(ws: Workspace, name: str) -> bool:
    """Stop the job's worker (its whole process group); True if one was running."""
    _, pid_file, _ = _paths(ws, name)
    if not _alive(pid_file):
        return False
    os.killpg(int(pid_file.read_text()), signal.SIGTERM)
    return True


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    try:  # a finished child of this process lingers as a zombie until reaped
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True
