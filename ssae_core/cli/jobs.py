"""``jobs list / show / cancel``: the workspace's background jobs."""

from __future__ import annotations

import argparse

from ssae_core.cli import common
from ssae_core.infra import jobs
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.workspace import Workspace


def register(sub: argparse._SubParsersAction) -> None:
    jb = sub.add_parser("jobs", help="background jobs of the workspace").add_subparsers(
        title="jobs commands"
    )
    common.add_commands(
        jb,
        common.Command("list", "every job, newest first", common.common_options, run_list),
        common.Command("show", "one job's state, progress and log", _named_options, run_show),
        common.Command("cancel", "stop a running or queued job", _named_options, run_cancel),
    )


def _named_options(p: argparse.ArgumentParser) -> None:
    common.common_options(p)
    p.add_argument("name")


def run_list(args: argparse.Namespace) -> int:
    rows = [
        {k: j[k] for k in ("name", "state", "stage", "done", "total", "eta_s")}
        for j in (job.to_dict() for job in jobs.list_jobs(Workspace(args.workspace)))
    ]
    common.emit(
        {"jobs": rows}, args.json, lambda s: "\n".join(job_line(j) for j in s["jobs"]) or "no jobs"
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    job = jobs.status(Workspace(args.workspace), args.name)
    if job is None:
        raise ConfigError(f"No job named {args.name!r}; see python -m ssae_core jobs list.")
    common.emit(job.to_dict(), args.json, format_job)
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    stopped = jobs.cancel(Workspace(args.workspace), args.name)
    common.emit(
        {"name": args.name, "cancelled": stopped},
        args.json,
        lambda s: f"{s['name']}: " + ("cancel sent" if s["cancelled"] else "not running or queued"),
    )
    return 0


def job_line(j: dict) -> str:
    """Name, state, stage, progress and ETA on one line."""
    progress = f"{j['done']}/{j['total']}" if j["total"] else str(j["done"] or "")
    eta = f"  ETA {j['eta_s']:.0f} s" if j.get("eta_s") else ""
    return f"{j['name']:<28} {j['state']:<10} {j['stage'] or ''} {progress}{eta}"


def format_job(j: dict) -> str:
    """``job_line``, the last 10 log lines and the error."""
    return "\n".join(
        [job_line(j), *j["log"][-10:], *([f"error: {j['error']}"] if j["error"] else [])]
    )
