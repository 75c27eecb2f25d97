"""Helpers shared by tests: run the CLI as a user would, save browser screenshots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def run_cli(
    *args: str, check: bool = True, env_remove: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Run ``python -m ssae_core ARGS`` in a subprocess, as a user would (without the variables in
    ``env_remove``)."""
    env = {k: v for k, v in os.environ.items() if k not in env_remove}
    proc = subprocess.run(
        [sys.executable, "-m", "ssae_core", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"CLI failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
