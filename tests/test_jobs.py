"""Background jobs: a real worker process, its status file, cancel, and a killed worker."""

import os
import signal
import time

from ssae_core import jobs
from ssae_core.workspace import Workspace


def _wait(predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def test_killed_worker_reads_as_failed(tmp_path):
    ws = Workspace(tmp_path)
    jobs.launch(ws, "build", ["demo", "build", "--quick", "--json"])
    assert _wait(lambda: (jobs.status(ws, "build") or {}).get("stage"))
    pid = int((tmp_path / "jobs" / "build.pid").read_text())
    os.killpg(pid, signal.SIGKILL)
    assert _wait(lambda: jobs.status(ws, "build")["state"] == "failed")
    assert "stopped without finishing" in jobs.status(ws, "build")["error"]
    assert not jobs.cancel(ws, "build"), "nothing left to cancel"


def test_cancelled_worker_records_cancelled_and_keeps_finished_artifacts(tmp_path):
    ws = Workspace(tmp_path)
    jobs.launch(ws, "build", ["demo", "build", "--quick", "--json"])
    assert _wait(lambda: (jobs.status(ws, "build") or {}).get("stage") == "train LM")
    assert jobs.cancel(ws, "build")
    assert _wait(lambda: jobs.status(ws, "build")["state"] == "cancelled")
    assert len(ws.list("corpus")) == 1 and len(ws.list("tokenizer")) == 1
    assert not list((tmp_path / "lm").glob(".tmp-*")), "the unfinished LM left no temp directory"


def test_unknown_job_has_no_status(tmp_path):
    assert jobs.status(Workspace(tmp_path), "never-ran") is None
