"""``heap.trim``: blocks freed inside glibc's heap go back to the system (what kept evaluation's
memory growing with the number of batches)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import numpy as np
from ssae_core.infra.heap import trim

def anon_kib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

first = np.ones(1 << 20)  # 8 MiB: mmapped; freeing it raises glibc's mmap threshold past it,
del first                 # so the next blocks of this size come from the heap
pairs = [(np.ones(1 << 20), np.ones(1 << 12)) for _ in range(4)]  # 8 MiB, then 32 KiB kept
blocks, kept = [p[0] for p in pairs], [p[1] for p in pairs]
del pairs
held = anon_kib()
del blocks  # holes between the kept blocks: free() cannot shrink the heap's top past them
freed = held - anon_kib()
trimmed = trim() if sys.argv[1] == "trim" else None
print(trimmed, freed, held - anon_kib())
"""


def _run(mode: str) -> list[str]:
    cmd = [sys.executable, "-c", PROBE, mode]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()


def test_trim_returns_freed_heap_blocks_to_the_system():
    trimmed, freed_before, returned = _run("trim")
    assert trimmed == "True"
    assert int(freed_before) < 4000  # KiB: freed, but still resident in the heap
    assert int(returned) >= 30000  # the four 8 MiB blocks given back
    _, _, kept = _run("none")
    assert int(kept) < 4000
