"""Progress reporting for long work: one interface, a tqdm face and a silent one.

Engine code calls ``stage(name, total)`` then ``update(n)``; the CLI shows tqdm bars,
a background job writes its row in the jobs database (``jobs.JobProgress``), tests pass ``Silent``.
"""

from __future__ import annotations

import sys


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
            self._bar = tqdm(
                total=total, desc=name, file=sys.stderr, dynamic_ncols=True, leave=True
            )

    def update(self, n: int = 1, **info) -> None:
        if self._bar is not None:
            self._bar.update(n)
            if info:
                self._bar.set_postfix(
                    {k: f"{v:.4g}" if isinstance(v, float) else v for k, v in info.items()},
                    refresh=False,
                )

    def log(self, message: str) -> None:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
