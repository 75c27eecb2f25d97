"""Faster CPU embedding: the packaged MiniLM in float32 vs int8 (dynamic quantization).

    python bench/embed_quant.py [--docs 3000] [--max-seq-length 128] [--k 100]

Both encoders embed the same documents of the demo generator's general corpus, in this process,
one after the other (the int8 one is ``torch.ao.quantization.quantize_dynamic`` of the float
encoder's ``nn.Linear`` layers: weights stored in int8, activations quantized on the fly). Printed:
documents/s of each and their ratio; the mean cosine between a document's two embeddings; and, for
each subdomain's seeds, recall@k of the int8 dense selection (``retrieval.dense_ranking``, the
seed-centroid query over an exact index) against the float one's.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, default=3000, help="general-corpus documents embedded")
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--k", type=int, default=100, help="selection size compared")
    args = p.parse_args()
    import faiss
    import torch

    from ssae_core import retrieval
    from ssae_core.demo import corpus
    from ssae_core.demo.world import DemoConfig

    torch.set_num_threads(2)
    docs, _ = corpus.generate(DemoConfig().world)
    general = docs[docs.split == "general"].text.head(args.docs).tolist()
    float_encoder = retrieval.load_encoder(max_seq_length=args.max_seq_length)
    int8_encoder = torch.ao.quantization.quantize_dynamic(
        copy.deepcopy(float_encoder), {torch.nn.Linear}, dtype=torch.qint8
    )
    vectors, rates = {}, {}
    for name, encoder in (("float32", float_encoder), ("int8", int8_encoder)):
        retrieval.embed(general[:64], encoder)  # warm up
        start = time.perf_counter()
        vectors[name] = retrieval.embed(general, encoder)
        rates[name] = len(general) / (time.perf_counter() - start)
        print(f"{name:<8} {rates[name]:7.1f} documents/s", flush=True)
    agreement = float((vectors["float32"] * vectors["int8"]).sum(1).mean())
    recalls = {}
    for subdomain in ("physics", "medicine"):
        seeds = docs[docs.split == f"{subdomain}_seed"].text.tolist()
        picks = {}
        for name, encoder in (("float32", float_encoder), ("int8", int8_encoder)):
            index = faiss.IndexFlatIP(vectors[name].shape[1])
            index.add(vectors[name])
            ids, _ = retrieval.dense_ranking(retrieval.embed(seeds, encoder), index, args.k)
            picks[name] = set(ids.tolist())
        recalls[subdomain] = len(picks["int8"] & picks["float32"]) / len(picks["float32"])
    out = {
        "documents": len(general),
        "max_seq_length": args.max_seq_length,
        "docs_per_s": rates,
        "speedup": rates["int8"] / rates["float32"],
        "mean_cosine_float_vs_int8": agreement,
        f"recall_at_{args.k}": recalls,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
