"""Demo-world build time: a cold build, then the cached rebuild, in one run.

    python bench/demo_build.py [--quick] [--workspace DIR]

Prints the wall time of each build step (from the artifact manifests), the cold total,
the warm total and their ratio. With no --workspace a fresh temporary one is used.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ssae_core.demo.world import DemoConfig, build  # noqa: E402
from ssae_core.infra.workspace import Workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workspace")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    cfg = DemoConfig.quick() if args.quick else DemoConfig()
    ws = Workspace(args.workspace or tempfile.mkdtemp(prefix="ssae-bench-"))
    start = time.perf_counter()
    world = build(cfg, ws, args.device)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    build(cfg, Workspace(ws.root), args.device)  # a new process's view: verifies checksums once
    warm = time.perf_counter() - start
    for art in (
        world.corpus_art,
        world.tokenizer_art,
        world.lm_art,
        world.gsae_art,
        world.report_art,
    ):
        print(f"{art.kind:<13} {art.manifest['wall_s']:8.1f} s")
    print(f"cold build    {cold:8.1f} s")
    print(f"cached build  {warm:8.2f} s")
    print(f"cached / cold {warm / cold:8.4f}")


if __name__ == "__main__":
    main()
