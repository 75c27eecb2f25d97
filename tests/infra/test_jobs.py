"""Background jobs: real worker processes, the SQLite job table, cancel, a killed worker, the per-
resource queue."""

import os
import signal
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from helpers import run_cli, wait_until

from ssae_core.infra import jobs
from ssae_core.infra.workspace import Workspace


def _wait(predicate, timeout=90):
    return wait_until(predicate, timeout)


def test_killed_worker_reads_as_failed(tmp_path):
    ws = Workspace(tmp_path)
    jobs.launch(ws, "build", ["demo", "build", "--quick", "--json"])
    assert _wait(lambda: getattr(jobs.status(ws, "build"), "stage", ""))
    os.killpg(jobs.status(ws, "build").pid, signal.SIGKILL)
    assert _wait(lambda: jobs.status(ws, "build").state == "failed")
    assert "stopped without finishing" in jobs.status(ws, "build").error
    assert not jobs.cancel(ws, "build"), "nothing left to cancel"


def test_cancelled_worker_records_cancelled_and_keeps_finished_artifacts(tmp_path):
    ws = Workspace(tmp_path)
    jobs.launch(ws, "build", ["demo", "build", "--quick", "--json"])
    assert _wait(lambda: getattr(jobs.status(ws, "build"), "stage", "") == "train LM")
    state = jobs.status(ws, "build")
    assert state.state == "running" and state.log, "stage and log lines reach the table"
    assert jobs.cancel(ws, "build")
    assert _wait(lambda: jobs.status(ws, "build").state == "cancelled")
    assert len(ws.list("corpus")) == 1 and len(ws.list("tokenizer")) == 1
    assert not list((tmp_path / "lm").glob(".tmp-*")), "the unfinished LM left no temp directory"


def test_a_job_cancelled_while_it_imports_ends_cancelled(tmp_path):
    """The SIGTERM lands while the worker imports torch and transformers, whose lazy imports can
    swallow the interrupt: the job still ends cancelled, not failed or done."""
    ws = Workspace(tmp_path)
    jobs.launch(ws, "build", ["demo", "build", "--quick", "--json"])
    assert _wait(lambda: jobs.status(ws, "build").state == "running", timeout=30)
    assert jobs.cancel(ws, "build")
    assert _wait(lambda: jobs.status(ws, "build").state not in jobs.ACTIVE)
    state = jobs.status(ws, "build")
    assert state.state == "cancelled", (state.state, state.error)


def _workers(workspace) -> list[int]:
    """Pids of the processes whose command line names ``workspace`` (the job's workers)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and b"ssae_core" in cmdline and str(workspace).encode() in cmdline:
            pids.append(int(proc.name))
    return pids


def test_two_identical_launches_at_once_start_one_worker(tmp_path):
    """Two browser tabs clicking the same button: one job row, one worker."""
    ws = Workspace(tmp_path)
    args = ["demo", "build", "--quick", "--json"]
    with ThreadPoolExecutor(2) as pool:
        states = list(pool.map(lambda _: jobs.launch(ws, "build", args), range(2)))
    assert states[0].created == states[1].created, "the second launch found the first"
    assert _wait(lambda: getattr(jobs.status(ws, "build"), "stage", "") != "")
    assert len(jobs.list_jobs(ws)) == 1 and len(_workers(tmp_path)) == 1
    assert jobs.cancel(ws, "build")
    assert _wait(lambda: jobs.status(ws, "build").state == "cancelled")


def test_one_job_per_resource_the_next_starts_when_it_frees(tmp_path):
    ws = Workspace(tmp_path)
    jobs.launch(ws, "first", ["demo", "build", "--quick", "--json"], resource="train:cpu")
    second = jobs.launch(ws, "second", ["demo", "build", "--quick", "--json"], resource="train:cpu")
    other = jobs.launch(ws, "other", ["jobs", "list", "--json"], resource="")
    assert second.state == "queued" and other.state in ("starting", "running", "done")
    assert _wait(lambda: jobs.status(ws, "other").state == "done")
    assert jobs.status(ws, "second").state == "queued"
    assert jobs.cancel(ws, "first")
    assert _wait(lambda: jobs.status(ws, "second").state in ("starting", "running")), (
        "the queued job starts once the device frees"
    )
    assert jobs.cancel(ws, "second")
    assert _wait(lambda: jobs.status(ws, "second").state == "cancelled")
    names = [j.name for j in jobs.list_jobs(ws)]
    assert sorted(names) == ["first", "other", "second"]
    with sqlite3.connect(
        tmp_path / "jobs" / "jobs.sqlite"
    ) as con:  # the state lives in the workspace's database
        assert con.execute("SELECT state FROM jobs WHERE name = 'first'").fetchone() == (
            "cancelled",
        )


def test_a_queued_job_can_be_cancelled_before_it_starts(tmp_path):
    ws = Workspace(tmp_path)
    jobs.launch(ws, "a", ["demo", "build", "--quick", "--json"], resource="train:cpu")
    jobs.launch(ws, "b", ["demo", "build", "--quick", "--json"], resource="train:cpu")
    assert jobs.cancel(ws, "b") and jobs.status(ws, "b").state == "cancelled"
    jobs.cancel(ws, "a")
    assert _wait(lambda: jobs.status(ws, "a").state in ("cancelled", "failed"))
    assert jobs.status(ws, "b").pid is None, "a cancelled queued job never started"


def test_jobs_cli_lists_and_explains_unknown_names(tmp_path):
    ws = Workspace(tmp_path)
    jobs.launch(ws, "listing", ["jobs", "list", "--json"])
    assert _wait(lambda: jobs.status(ws, "listing").state == "done")
    assert "listing" in run_cli("jobs", "list", "--workspace", str(tmp_path), process=True).stdout
    proc = run_cli("jobs", "show", "nope", "--workspace", str(tmp_path), check=False, process=True)
    assert proc.returncode == 1 and "No job named 'nope'" in proc.stderr


def test_unknown_job_has_no_status(tmp_path):
    assert jobs.status(Workspace(tmp_path), "never-ran") is None
