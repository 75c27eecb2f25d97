"""``export saelens``: one SAE of the workspace, in SAELens's own format, copied to a folder of
the user's choice, with a README on loading it and a provenance file.

The SAEs of ``ssae`` and ``gsae`` artifacts are stored as SAELens writes them (``sae_<i>/``:
``cfg.json`` and ``sae_weights.safetensors``), so the export is a byte copy that
``sae_lens.SAE.load_from_disk`` loads. The folder must be new or empty: nothing the user has is
overwritten, and a failed copy leaves no partial folder behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

from ssae_core.infra.errors import ConfigError
from ssae_core.infra.workspace import Artifact

SAE_FILES = ("cfg.json", "sae_weights.safetensors")


class SAELensExport(NamedTuple):
    path: Path
    ref: str
    """The exported SAE's ref in the workspace (``ssae/KEY#i``)."""
    architecture: str
    d_in: int
    d_sae: int
    hook_name: str


def export_saelens(art: Artifact, index: int, out: Path) -> SAELensExport:
    """Copy SAE ``index`` of ``art`` (an ``ssae`` or ``gsae`` artifact) into ``out``."""
    if art.kind not in ("ssae", "gsae"):
        raise ConfigError(f"{art.ref} is a {art.kind} artifact; export an ssae or gsae one.")
    count = len(list(art.path.glob("sae_*/cfg.json")))
    if not 0 <= index < count:
        raise ConfigError(f"{art.ref} holds SAEs #0 to #{count - 1}; #{index} is not one of them.")
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty folder; give a new folder for --out.")
    source = art.path / f"sae_{index}"
    cfg = json.loads((source / "cfg.json").read_text())
    made = SAELensExport(
        out,
        f"{art.ref}#{index}",
        cfg.get("architecture", "standard"),
        int(cfg["d_in"]),
        int(cfg["d_sae"]),
        (cfg.get("metadata") or {}).get("hook_name") or "",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name in SAE_FILES:
            shutil.copyfile(source / name, tmp / name)
        provenance = {"ref": made.ref, "config": art.manifest["config"]}
        provenance |= {"inputs": art.manifest.get("inputs", []), "summary": art.summary}
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, default=float))
        (tmp / "README.md").write_text(readme(made, art))
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return made


def readme(made: SAELensExport, art: Artifact) -> str:
    """How to load the export in SAELens and what it is."""
    what = "A specialized SAE (SSAE)" if art.kind == "ssae" else "A general SAE (GSAE)"
    gsae = art.summary.get("gsae")
    lines = [
        f"# {made.ref}",
        "",
        f"{what} exported by SSAE Studio: {made.architecture},"
        f" {made.d_in} → {made.d_sae} latents"
        + (f", read at `{made.hook_name}`" if made.hook_name else "")
        + ".",
        "",
        "Load it with SAELens:",
        "",
        "```python",
        "from sae_lens import SAE",
        "",
        f'sae = SAE.load_from_disk("{made.path}", device="cpu")',
        "features = sae.encode(activations)  # (tokens, d_sae)",
        "reconstruction = sae.decode(features)",
        "```",
        "",
        "`provenance.json` holds the training configuration, the artifacts it was made from"
        + (f" (the GSAE `{gsae}`)" if gsae else "")
        + " and its validation metrics.",
    ]
    return "\n".join(lines) + "\n"
