"""Artifact store: every computed thing is a directory named by the hash of what made it.

Layout: ``<root>/<kind>/<key>/`` holding the artifact's files and ``manifest.json``
(config, inputs, library versions, wall time, file sizes and SHA-256 checksums).
A build writes into a temporary sibling directory and renames it into place, so a
crash never leaves a half-written artifact under its final name. An artifact whose
files do not match its manifest is never used: ``build`` moves it aside (nothing is
deleted) and rebuilds it, ``open`` reports it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ssae_core.infra.config import Config, stable_hash
from ssae_core.infra.errors import WorkspaceError

T = TypeVar("T")

MANIFEST = "manifest.json"
DEFAULT_ROOT = "cache"
_VERSIONED = ["ssae-studio", "torch", "sae-lens", "transformer-lens", "numpy", "tokenizers"]


@dataclass(frozen=True)
class Artifact:
    """A finished artifact: its directory and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def key(self) -> str:
        return self.manifest["key"]

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def ref(self) -> str:
        """``kind/key``: how other artifacts name this one among their inputs."""
        return f"{self.kind}/{self.key}"

    @property
    def summary(self) -> dict[str, Any]:
        return self.manifest.get("summary", {})

    def file(self, name: str) -> Path:
        return self.path / name


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The workspace root: the argument, else ``$SSAE_WORKSPACE``, else ``cache/``."""
    return Path(root or os.environ.get("SSAE_WORKSPACE") or DEFAULT_ROOT).expanduser().resolve()


class Step(Protocol):
    """One artifact of a chain: ``Workspace.build``, or a lookup (``Workspace.find_chain``)."""

    def __call__(
        self,
        kind: str,
        config: Config,
        builder: Callable[[Path], dict[str, Any] | None],
        inputs: list[str] | None = None,
    ) -> Artifact: ...


class _NotBuiltError(Exception):
    """A lookup step met an artifact that is not built (ends ``find_chain``)."""


class Workspace:
    """The artifact store rooted at one directory."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = resolve_root(root)
        self._verified: set[tuple[str, float]] = set()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def ensure_writable(self) -> None:
        """Create the root if needed; raise WorkspaceError if it cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-"):
                pass
        except OSError as exc:
            raise WorkspaceError(
                f"The workspace {self.root} is not writable ({exc.strerror or exc}). "
                "Choose another directory with --workspace DIR or the SSAE_WORKSPACE variable."
            ) from None

    def key_for(self, kind: str, config: Config, inputs: list[str] | None = None) -> str:
        return stable_hash(
            {"kind": kind, "config": config.digest(), "inputs": sorted(inputs or [])}
        )

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def kinds(self) -> list[str]:
        """The artifact kinds with a folder in the workspace (jobs, runs and uploads are not
        artifacts)."""
        if not self.root.exists():
            return []
        folders = (p.name for p in self.root.iterdir() if p.is_dir())
        return sorted(k for k in folders if k not in ("jobs", "runs", "uploads"))

    def list(self, kind: str) -> list[Artifact]:
        """Finished artifacts of one kind, newest first (unverified: manifests only)."""
        found = []
        for manifest in (self.root / kind).glob(f"*/{MANIFEST}"):
            with contextlib.suppress(OSError, ValueError):
                found.append(Artifact(manifest.parent, json.loads(manifest.read_text())))
        return sorted(found, key=lambda a: a.manifest.get("created", 0), reverse=True)

    def find(self, kind: str, config: Config, inputs: list[str] | None = None) -> Artifact | None:
        """The verified artifact for this config and inputs, or None if not built."""
        path = self.path(kind, self.key_for(kind, config, inputs))
        return self.open(path) if path.exists() else None

    def find_chain(self, chain: Callable[[Step], T]) -> T | None:
        """Run ``chain`` (a function that obtains its artifacts through the step it is given,
        as it does with ``self.build`` to build them) with lookups only: its result when every
        artifact it asks for is built, else None (a damaged one raises, as ``find`` does).
        Nothing is built, so one chain declares both how artifacts are built and found."""

        def lookup(kind, config, builder, inputs=None) -> Artifact:
            found = self.find(kind, config, inputs)
            if found is None:
                raise _NotBuiltError
            return found

        try:
            return chain(lookup)
        except _NotBuiltError:
            return None

    def get(self, ref: str) -> Artifact:
        """The artifact named ``kind/key`` (as in manifests' inputs); WorkspaceError if absent."""
        path = self.root / ref
        if not (path / MANIFEST).exists():
            raise WorkspaceError(f"No artifact {ref!r} in the workspace {self.root}.")
        return self.open(path)

    def open(self, path: str | os.PathLike) -> Artifact:
        """Open and verify an artifact directory; WorkspaceError if it is damaged."""
        path = Path(path)
        problem = self._problem(path)
        if problem:
            raise WorkspaceError(
                f"The artifact {path} is damaged ({problem}). Rebuild it (the command that made it "
                "moves the damaged copy aside and starts again) or delete that directory."
            )
        return Artifact(path, json.loads((path / MANIFEST).read_text()))

    def build(
        self,
        kind: str,
        config: Config,
        builder: Callable[[Path], dict[str, Any] | None],
        inputs: list[str] | None = None,
    ) -> Artifact:
        """Return the artifact for (kind, config, inputs), building it if needed.

        ``builder(tmpdir)`` writes the artifact's files into ``tmpdir`` and may return a
        JSON-able summary that is kept in the manifest.
        """
        self.ensure_writable()
        key = self.key_for(kind, config, inputs)
        final = self.path(kind, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        with self._lock(final):
            if final.exists():
                if not self._problem(final):
                    return self.open(final)
                self._quarantine(final)
            for stale in final.parent.glob(f".tmp-{key}-*"):  # a killed build's (we hold the lock)
                shutil.rmtree(stale, ignore_errors=True)
            tmp = final.parent / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            try:
                start = time.time()
                summary = builder(tmp) or {}
                manifest = {
                    "kind": kind,
                    "key": key,
                    "config_class": type(config).__name__,
                    "config": config.to_dict(),
                    "inputs": sorted(inputs or []),
                    "summary": summary,
                    "versions": library_versions(),
                    "created": time.time(),
                    "wall_s": round(time.time() - start, 3),
                    "files": _file_table(tmp),
                }
                atomic_write_json(tmp / MANIFEST, manifest)
                os.rename(tmp, final)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                if exc.errno == errno.ENOSPC:
                    raise WorkspaceError(disk_full(self.root, kind)) from None
                raise
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return self.open(final)

    def partial(self, kind: str, config: Config, inputs: list[str] | None = None) -> Path:
        """The directory that keeps a resumable build's finished parts across attempts (under
        ``partial/``); ``adopt_parts`` moves them into the artifact once all are done."""
        path = self.root / "partial" / f"{kind}-{self.key_for(kind, config, inputs)}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def _lock(self, final: Path) -> Iterator[None]:
        lock_path = final.parent / f".{final.name}.lock"
        with open(lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _quarantine(self, path: Path) -> Path:
        moved = path.parent / f".corrupt-{path.name}-{int(time.time())}"
        os.rename(path, moved)
        return moved

    def _problem(self, path: Path) -> str | None:
        """Why the artifact at ``path`` cannot be used, or None if it is intact."""
        manifest_path = path / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text())
            files = manifest["files"]
        except FileNotFoundError:
            return "no manifest.json: it was never finished"
        except (OSError, ValueError, KeyError) as exc:
            return f"unreadable manifest.json: {exc}"
        for name, meta in files.items():
            f = path / name
            if not f.is_file():
                return f"missing file {name}"
            if f.stat().st_size != meta["size"]:
                return f"{name} is {f.stat().st_size} bytes, the manifest says {meta['size']}"
        memo = (str(path), manifest_path.stat().st_mtime)
        if memo not in self._verified:
            for name, meta in files.items():
                if sha256_file(path / name) != meta["sha256"]:
                    return f"checksum mismatch in {name}"
            self._verified.add(memo)
        return None


def _file_table(root: Path) -> dict[str, dict[str, Any]]:
    return {
        str(f.relative_to(root)): {"size": f.stat().st_size, "sha256": sha256_file(f)}
        for f in sorted(root.rglob("*"))
        if f.is_file() and f.name != MANIFEST
    }


def adopt_parts(partial: Path, out: Path) -> None:
    """Move a resumable build's parts (``Workspace.partial``) into its output directory."""
    for f in partial.iterdir():
        shutil.move(str(f), out / f.name)
    partial.rmdir()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def disk_full(root: Path, kind: str) -> str:
    """The message for a build that ran out of disk space."""
    free = shutil.disk_usage(root).free / 2**20
    return (
        f"The disk holding the workspace {root} is full ({free:.1f} MiB free) while writing a"
        f" {kind} artifact. Nothing partial was kept and finished artifacts are intact: free some"
        " space (or point --workspace / $SSAE_WORKSPACE at a larger disk) and run the same"
        " command again."
    )


def reserved_memmap(path: Path, dtype, shape: tuple[int, ...]):
    """``np.lib.format.open_memmap(path, "w+", ...)`` with the file's blocks reserved first, so a
    full disk fails here with ENOSPC (which ``Workspace.build`` reports) instead of killing the
    process with SIGBUS when a mapped page is first written."""
    import numpy as np

    arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    with open(path, "r+b") as fh:
        os.posix_fallocate(fh.fileno(), 0, os.fstat(fh.fileno()).st_size)
    return arr


class RowFile:
    """A new ``.npy`` file of ``shape`` written block by block of rows with ``pwrite``: its disk
    blocks are reserved first (a full disk fails here with ENOSPC), and no part of it is mapped
    into this process, so the writer's resident memory does not grow with the file (a memmap's
    written pages count in its RSS until unmapped)."""

    def __init__(self, path: Path, dtype, shape: tuple[int, ...]):
        import numpy as np

        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False}
        with open(path, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {**header, "shape": tuple(shape)})
            self.offset = fh.tell()
            os.posix_fallocate(fh.fileno(), 0, self.offset + shape[0] * self.row_bytes)
        self.fd = os.open(path, os.O_WRONLY)

    def __setitem__(self, rows: slice, value) -> None:
        import numpy as np

        data = memoryview(np.ascontiguousarray(value, dtype=self.dtype)).cast("B")
        at = self.offset + rows.start * self.row_bytes
        while len(data):
            written = os.pwrite(self.fd, data, at)
            data, at = data[written:], at + written

    def close(self) -> None:
        os.close(self.fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file (creating its folder) so that readers see the old or the new content, never a
    part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions
