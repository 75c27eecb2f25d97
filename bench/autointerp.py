"""Autointerp throughput: concurrency 8 vs sequential, against a mock Messages API that answers
after a realistic 1-3 s delay (seeded), through the real anthropic client.

    python bench/autointerp.py [--concurrent 32] [--sequential 4]

Features per second of each run (each feature = one interpreter and one predictor call);
the runs have different sizes so that both take about as long.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ssae_core.analysis.autointerp import prompts  # noqa: E402
from ssae_core.analysis.autointerp.backends import ClaudeBackend, ClaudeConfig  # noqa: E402
from ssae_core.analysis.autointerp.examples import Example, FeatureExamples  # noqa: E402
from ssae_core.analysis.autointerp.run import score_features  # noqa: E402
from ssae_core.infra.workspace import Workspace  # noqa: E402


def slow_api(seed: int):
    rng = random.Random(seed)

    async def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        text = (
            "EXPLANATION: physics words"
            if body["system"][0]["text"] == prompts.INTERPRETER_SYSTEM
            else "[1, 0, 1, 0]"
        )
        return httpx2.Response(
            200,
            json={
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 500, "output_tokens": 40},
            },
        )

    return handler


def features(n: int) -> list[FeatureExamples]:
    on, off = Example(("the", "quark"), (0.0, 1.0), 0, 0), Example(("a", "cat"), (0.0, 0.0), 1, 0)
    return [FeatureExamples(i, (on,) * 10, (on, off, on, off), ()) for i in range(n)]


def timed_run(n: int, concurrency: int) -> float:
    cfg = ClaudeConfig(concurrency=concurrency)
    backend = ClaudeBackend(
        cfg,
        api_key="bench",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(slow_api(n))),
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        rows = asyncio.run(
            score_features(Workspace(tmp), backend, "sae/bench", features(n), cfg=cfg)
        )
        took = time.perf_counter() - start
    assert all(r["status"] == "ok" for r in rows)
    return n / took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrent", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=4)
    args = parser.parse_args()
    seq = timed_run(args.sequential, 1)
    par = timed_run(args.concurrent, 8)
    print(
        f"sequential: {seq:.3f} features/s ({args.sequential} features); concurrency 8: {par:.3f}"
        f" features/s ({args.concurrent} features) -> {par / seq:.1f}x"
    )


if __name__ == "__main__":
    main()
