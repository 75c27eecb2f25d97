"""Files a user uploads into the workspace: seed sets, corpora, test and OOD sets, SHIFT tasks.

Layout: ``<workspace>/uploads/<role>/<name>``, ``role`` one of ``ROLES``. The name is
made here from the name the browser sent: its last path component, reduced to letters,
digits, ``.``, ``_`` and ``-`` (never a path, never hidden, at most ``MAX_NAME`` long),
so no upload is written outside its folder. A file is validated as text
(``data.load_texts``) in a temporary file beside its target and only then renamed into
place: a rejected upload leaves the folder as it was, and nothing the product did not
write is ever deleted.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ssae_core.infra.workspace import Workspace
from ssae_core.select import data

ROLES = ("seeds", "corpus", "test", "ood", "tasks")
SUFFIXES = (".txt", ".jsonl", ".csv", ".parquet")
MAX_NAME = 80


def folder(ws: Workspace, role: str) -> Path:
    """Where uploads of ``role`` live."""
    if role not in ROLES:
        raise data.DataError(f"Unknown upload role {role!r}; use one of {', '.join(ROLES)}.")
    return ws.root / "uploads" / role


def uploaded(ws: Workspace, role: str) -> list[str]:
    """Paths of the files uploaded for ``role``, sorted by name."""
    path = folder(ws, role)
    if not path.exists():
        return []
    return [str(p) for p in sorted(path.glob("*")) if p.is_file() and not p.name.startswith(".")]


def safe_name(sent: str) -> str:
    """A file name made from the name a browser sent; DataError when nothing usable is left."""
    base = re.split(r"[\\/]", sent)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot or f".{suffix.lower()}" not in SUFFIXES:
        raise data.DataError(
            f"{sent[:100]!r} does not end in one of {', '.join(SUFFIXES)}; rename the file."
        )
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[: MAX_NAME - len(suffix) - 1]
    return f"{stem or 'upload'}.{suffix.lower()}"


def save(ws: Workspace, role: str, sent_name: str, content: bytes) -> tuple[Path, data.TextSet]:
    """Validate ``content`` as a text set and store it as ``role``'s upload; DataError (and
    nothing stored) when it is not usable text."""
    ws.ensure_writable()
    target = folder(ws, role) / safe_name(sent_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        texts = data.load_texts(tmp, data.IngestConfig())
        os.replace(tmp, target)
    except data.DataError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise data.DataError(str(exc).replace(tmp, target.name)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target, texts
