"""Progress reporting for long work: one interface, a tqdm face and a silent one.

Engine code calls ``stage(name, total)`` then ``update(n)``; the CLI shows tqdm bars,
a background job writes its status file (see ``jobs``), tests pass ``Silent``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ssae_core.workspace import atomic_write_json


class Progress:
    """Receives progress; the base class ignores it."""

    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def update(self, n: int = 1, **info) -> None:
        pass

    def log(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


Silent = Progress


class Tqdm(Progress):
    """One tqdm bar per stage, on stderr."""

    def __init__(self) -> None:
        self._bar = None

    def stage(self, name: str, total: int | None = None) -> None:
        from tqdm.auto import tqdm

        self.close()
        if total is None:
            self.log(f"{name} ...")
        else:
            self._bar = tqdm(total=total, desc=name, file=sys.stderr, dynamic_ncols=True, leave=True)

    def update(self, n: int = 1, **info) -> None:
        if self._bar is not None:
            self._bar.update(n)
            if info:
                self._bar.set_postfix({k: f"{v:.4g}" if isinstance(v, float) else v for k, v in info.items()}, refresh=False)

    def log(self, message: str) -> None:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class StatusFile(Progress):
    """Writes ``{state, stage, done, total, log}`` as JSON, atomically, for a dashboard to poll."""

    def __init__(self, path, min_interval: float = 0.5) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.min_interval = min_interval
        self.status = {"state": "running", "stage": "", "done": 0, "total": None, "log": [], "info": {}}
        self._last = 0.0
        self._write(force=True)

    def stage(self, name: str, total: int | None = None) -> None:
        self.status.update(stage=name, done=0, total=total, info={})
        self.status["log"] = (self.status["log"] + [name])[-50:]
        self._write(force=True)

    def update(self, n: int = 1, **info) -> None:
        self.status["done"] += n
        self.status["info"] = {k: v for k, v in info.items() if isinstance(v, (int, float, str))}
        self._write()

    def log(self, message: str) -> None:
        self.status["log"] = (self.status["log"] + [message])[-50:]
        self._write(force=True)

    def finish(self, state: str, error: str | None = None) -> None:
        """Record the end state: done, failed (with the error message) or cancelled."""
        self.status.update(state=state, error=error)
        self._write(force=True)

    def _write(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last >= self.min_interval:
            self.status["updated"] = now
            atomic_write_json(self.path, self.status)
            self._last = now
