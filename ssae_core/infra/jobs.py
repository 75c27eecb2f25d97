"""Background jobs: CLI commands run by worker processes, with their state in the workspace's
SQLite.

A job is ``python -m ssae_core <args> --job <name>`` started in its own session, so it
survives a page reload or an app restart. Its row in ``<workspace>/jobs/jobs.sqlite``
holds the state (queued / running / done / failed / cancelled), stage, progress, ETA,
the tail of its log and the error on failure; its output goes to ``jobs/<name>.log``.
Jobs that name a resource (e.g. ``train:cpu``) run one at a time per resource; the
others wait queued and start when it frees (a finishing worker, or any status query,
starts the next). A worker that died without finishing is detected and marked failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ssae_core.infra.progress import Progress
from ssae_core.infra.workspace import Workspace

ACTIVE = ("starting", "running")
FINAL = ("done", "failed", "cancelled")
_COLUMNS = (
    "name, args, resource, state, stage, done, total, eta_s, log, error, info, pid, created,"
    " started, updated, cancel_requested"
)
_SCHEMA = """CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY, args TEXT, resource TEXT, state TEXT, stage TEXT, done INTEGER,
    total INTEGER, eta_s REAL, log TEXT, error TEXT, info TEXT, pid INTEGER, created REAL,
    started REAL, updated REAL, cancel_requested INTEGER DEFAULT 0)"""


@dataclass(frozen=True)
class JobState:
    """One job's row: what it runs, where it is, how it ended."""

    name: str
    args: list[str]
    resource: str
    state: str
    """queued, starting, running, done, failed or cancelled."""
    stage: str = ""
    done: int = 0
    total: int | None = None
    eta_s: float | None = None
    log: list[str] = field(default_factory=list)
    """The last lines the worker reported."""
    error: str | None = None
    info: dict = field(default_factory=dict)
    """The last progress update's numbers (e.g. loss, L0)."""
    pid: int | None = None
    created: float | None = None
    started: float | None = None
    updated: float | None = None
    cancel_requested: int = 0

    @property
    def running(self) -> bool:
        """Queued or under way (not in a final state)."""
        return self.state not in FINAL

    def to_dict(self) -> dict:
        return asdict(self)


def _db_path(root: Path) -> Path:
    return root / "jobs" / "jobs.sqlite"


@contextlib.contextmanager
def _db(root: Path):
    path = _db_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(_SCHEMA)
        yield con
    finally:
        con.close()


def log_path(ws: Workspace, name: str) -> Path:
    return ws.root / "jobs" / f"{name}.log"


def launch(ws: Workspace, name: str, args: list[str], resource: str = "") -> JobState:
    """Queue ``python -m ssae_core ARGS`` as job ``name`` (replacing a finished one) and start it if
    it may run."""
    ws.ensure_writable()
    now = time.time()
    with _db(ws.root) as con:
        con.execute("BEGIN IMMEDIATE")
        row = con.execute("SELECT state FROM jobs WHERE name = ?", (name,)).fetchone()
        if row and row[0] not in FINAL:
            con.execute("COMMIT")
            return status(ws, name)
        con.execute(
            f"INSERT OR REPLACE INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, 'queued', '', 0, NULL,"
            " NULL, '[]', NULL, '{}', NULL, ?, NULL, ?, 0)",
            (name, json.dumps(args), resource, now, now),
        )
        con.execute("COMMIT")
    dispatch(ws)
    return status(ws, name)


def dispatch(ws: Workspace) -> list[str]:
    """Start every queued job whose resource is free; returns the names started."""
    started = []
    with _db(ws.root) as con:
        con.execute("BEGIN IMMEDIATE")
        busy = {
            r
            for (r,) in con.execute(
                "SELECT resource FROM jobs WHERE state IN ('starting', 'running') AND resource"
                " != ''"
            )
        }
        for name, args, resource in con.execute(
            "SELECT name, args, resource FROM jobs WHERE state = 'queued' ORDER BY created"
        ).fetchall():
            if resource and resource in busy:
                continue
            pid = _start_worker(ws, name, json.loads(args))
            con.execute(
                "UPDATE jobs SET state = 'starting', pid = ?, started = ?, updated = ? WHERE"
                " name = ?",
                (pid, time.time(), time.time(), name),
            )
            busy.add(resource)
            started.append(name)
        con.execute("COMMIT")
    return started


PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The folder that holds ``ssae_core/``: where workers run ``python -m ssae_core``."""


def _start_worker(ws: Workspace, name: str, args: list[str]) -> int:
    cmd = [sys.executable, "-m", "ssae_core", *args, "--workspace", str(ws.root), "--job", name]
    with open(log_path(ws, name), "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PROJECT_ROOT,
        )
    return proc.pid


def status(ws: Workspace, name: str) -> JobState | None:
    """The job's state, or None if it never ran; a dead unfinished worker is marked failed here."""
    row = _row(ws.root, name)
    if row and row.state in ACTIVE and not _alive(row.pid):
        if row.cancel_requested:  # killed before its SIGTERM handler was installed
            _update(ws.root, name, state="cancelled")
        else:
            tail = (
                log_path(ws, name).read_text(errors="replace")[-2000:]
                if log_path(ws, name).exists()
                else ""
            )
            _update(
                ws.root,
                name,
                state="failed",
                error=f"The worker process stopped without finishing. Last output:\n{tail}",
            )
        dispatch(ws)
        row = _row(ws.root, name)
    return row


def list_jobs(ws: Workspace) -> list[JobState]:
    """Every job of the workspace, newest first (dead workers detected)."""
    if not _db_path(ws.root).exists():
        return []
    with _db(ws.root) as con:
        names = [n for (n,) in con.execute("SELECT name FROM jobs ORDER BY created DESC")]
    return [status(ws, n) for n in names]


def cancel(ws: Workspace, name: str) -> bool:
    """Stop a running job (its whole process group) or drop a queued one; True if there was one."""
    row = _row(ws.root, name)
    if row is None or row.state in FINAL:
        return False
    if row.state == "queued":
        _update(ws.root, name, state="cancelled")
        return True
    if not _alive(row.pid):
        return False
    _update(ws.root, name, cancel_requested=1)
    os.killpg(row.pid, signal.SIGTERM)
    return True


def _row(root: Path, name: str) -> JobState | None:
    if not _db_path(root).exists():
        return None
    with _db(root) as con:
        con.row_factory = sqlite3.Row
        row = con.execute(f"SELECT {_COLUMNS} FROM jobs WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    out = dict(row)
    out.update(
        args=json.loads(out["args"]),
        log=json.loads(out["log"] or "[]"),
        info=json.loads(out["info"] or "{}"),
        stage=out["stage"] or "",
        done=out["done"] or 0,
    )
    return JobState(**out)


def _update(root: Path, name: str, **fields) -> None:
    fields["updated"] = time.time()
    for key in ("log", "info"):
        if key in fields:
            fields[key] = json.dumps(fields[key])
    with _db(root) as con:
        con.execute(
            f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE name = ?",
            (*fields.values(), name),
        )


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child of this process lingers as a zombie until reaped
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


class JobProgress(Progress):
    """The worker's side: stage, progress, ETA and log lines into its job row (rate-limited)."""

    def __init__(self, ws: Workspace, name: str, min_interval: float = 0.5) -> None:
        self.root, self.name, self.min_interval = ws.root, name, min_interval
        self.stage_name, self.done, self.total, self.lines, self.info = "", 0, None, [], {}
        self._stage_start = self._last = time.time()
        _update(self.root, name, state="running", pid=os.getpid())

    def stage(self, name: str, total: int | None = None) -> None:
        self.stage_name, self.done, self.total, self.info = name, 0, total, {}
        self._stage_start = time.time()
        self.log(name)

    def update(self, n: int = 1, **info) -> None:
        self.done += n
        self.info = {k: v for k, v in info.items() if isinstance(v, (int, float, str))}
        if time.time() - self._last >= self.min_interval:
            self._write()

    def log(self, message: str) -> None:
        self.lines = (self.lines + [message])[-50:]
        self._write()

    def eta(self) -> float | None:
        """Seconds left in this stage at its average rate so far."""
        elapsed = time.time() - self._stage_start
        if not self.total or not self.done or elapsed <= 0:
            return None
        return (self.total - self.done) * elapsed / self.done

    def cancel_requested(self) -> bool:
        """Whether ``cancel`` was called on this job."""
        row = _row(self.root, self.name)
        return bool(row and row.cancel_requested)

    def finish(self, state: str, error: str | None = None) -> None:
        """Record the end state (done, failed with the message, cancelled) and start what was
        waiting."""
        self._write(state=state, error=error)
        dispatch(Workspace(self.root))

    def _write(self, **extra) -> None:
        self._last = time.time()
        fields = {
            "stage": self.stage_name,
            "done": self.done,
            "total": self.total,
            "eta_s": self.eta(),
            "log": self.lines,
            "info": self.info,
        }
        if "state" in extra:
            fields["eta_s"] = None
        _update(self.root, self.name, **fields, **extra)
        if "state" not in extra and self.cancel_requested():
            # the SIGTERM's KeyboardInterrupt can be swallowed (transformers' lazy imports turn
            # it into ModuleNotFoundError); the next progress report stops the job instead
            raise KeyboardInterrupt
