"""Helpers shared by tests: run the CLI as a user would, save browser screenshots."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def run_cli(
    *args: str, check: bool = True, env_remove: tuple[str, ...] = (), process: bool = False
) -> subprocess.CompletedProcess:
    """Run ``python -m ssae_core ARGS`` as a user would (without the variables in ``env_remove``).

    In this process by default: the same ``main`` with its stdout, stderr and exit status, but
    without a second ~10 s import of torch, SAELens and transformers. ``process=True`` starts a
    real ``python -m ssae_core`` (for what only a process shows: its exit status from ``sys.exit``,
    signals, the import path)."""
    env = {k: v for k, v in os.environ.items() if k not in env_remove}
    proc = _run_process(args, env) if process else _run_in_process(args, env)
    if check and proc.returncode != 0:
        raise AssertionError(f"CLI failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _run_process(args: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ssae_core", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def _run_in_process(args: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess:
    from ssae_core.cli import main

    saved_env, handler = dict(os.environ), signal.getsignal(signal.SIGTERM)
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors and --help
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        signal.signal(signal.SIGTERM, handler)
    return subprocess.CompletedProcess(["ssae_core", *args], code, out.getvalue(), err.getvalue())


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def random_sae(d_in: int = 16, d_sae: int = 48, seed: int = 0, **cfg):
    """A SAELens standard SAE with random float64 weights, some latents off and some on (``cfg``:
    more ``StandardSAEConfig`` fields)."""
    import sae_lens as sl
    import torch

    torch.manual_seed(seed)
    sae = sl.StandardSAE(sl.StandardSAEConfig(d_in=d_in, d_sae=d_sae, **cfg))
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        sae.b_enc.sub_(0.2)
    return sae.double()


def wait_until(predicate, timeout: float = 90, every: float = 0.3) -> bool:
    """Whether ``predicate()`` came true within ``timeout`` seconds (polled every ``every``)."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


KEY = "sk-ant-test-DO-NOT-LEAK-1234"
"""A fake Anthropic API key: tests check it never reaches a log, a file or an error."""


def message(text, input_tokens=100, output_tokens=20):
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def standard_sae(d_in: int, d_sae: int, hook: str = "blocks.0.hook_resid_post", n_ctx: int = 64):
    """A SAELens standard SAE with SAELens's own initialization and metadata for ``hook``."""
    import sae_lens as sl
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name=hook, model_name="test", context_size=n_ctx, prepend_bos=True)
    return sl.StandardSAE(sl.StandardSAEConfig(d_in=d_in, d_sae=d_sae, metadata=meta))


TRAINED_KINDS = ("activations", "selection", "ssae", "runs", "study_cell", "sae_eval", "jobs")
"""What the recipe makes on top of a demo world."""


def world_only(root, dest):
    """A copy of a workspace's demo world (and corpus embeddings), nothing trained on it."""
    from ssae_core.infra.workspace import Workspace

    shutil.copytree(root, dest, ignore=lambda d, names: TRAINED_KINDS if d == str(root) else ())
    return Workspace(dest)
