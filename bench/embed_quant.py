"""Faster CPU embedding: the packaged MiniLM in float32 (PyTorch, today's) vs int8 (dynamic
quantization) vs ONNX Runtime (float32).

    python bench/embed_quant.py [--docs 3000] [--max-seq-length 128] [--k 100]

The encoders embed the same documents of the demo generator's general corpus, in this process,
one after the other:

- ``float32``: today's sentence-transformers encoder;
- ``int8``: ``torch.ao.quantization.quantize_dynamic`` of its ``nn.Linear`` layers (weights in
  int8, activations quantized on the fly);
- ``onnx``: the same transformer exported to ONNX (``torch.onnx.export``) and run by ONNX Runtime
  on 2 threads, with sentence-transformers' pooling (mean over the attention mask, unit norm) and
  length-sorted batches. Needs ``pip install onnxruntime onnx`` (not in requirements.txt); skipped
  with a message otherwise.

Printed: documents/s of each and the ratio to float32; the mean cosine between a document's
embeddings; and, for each subdomain's seeds, recall@k of each dense selection
(``retrieval.dense_ranking``, the seed-centroid query over an exact index) against float32's.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class OnnxEncoder:
    """A sentence-transformers encoder's transformer run by ONNX Runtime, with its mean pooling and
    unit norm; ``encode`` and the dimension as ``retrieval.embed`` uses them."""

    NAMES = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, st, path: Path, threads: int = 2):
        import numpy as np
        import onnxruntime as ort
        import torch

        class Hidden(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state

        self.np, self.tokenizer, self.max_len = np, st.tokenizer, st.max_seq_length
        self.dim = st.get_sentence_embedding_dimension()
        sample = self.tokenizer(["a b c", "d"], return_tensors="pt", padding=True)
        torch.onnx.export(
            Hidden(st[0].auto_model.eval()),
            tuple(sample[n] for n in self.NAMES),
            str(path),
            input_names=list(self.NAMES),
            output_names=["hidden"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in (*self.NAMES, "hidden")},
            opset_version=17,
            dynamo=False,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True):
        np = self.np
        order = np.argsort([-len(t) for t in texts], kind="stable")  # as sentence-transformers
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            enc = self.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=self.max_len,
                return_tensors="np",
            )
            (hidden,) = self.session.run(None, {n: enc[n].astype(np.int64) for n in self.NAMES})
            mask = enc["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, default=3000, help="general-corpus documents embedded")
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--k", type=int, default=100, help="selection size compared")
    args = p.parse_args()
    import faiss
    import torch

    from ssae_core.demo import corpus
    from ssae_core.demo.world import DemoConfig
    from ssae_core.select import retrieval

    torch.set_num_threads(2)
    docs, _ = corpus.generate(DemoConfig().world)
    general = docs[docs.split == "general"].text.head(args.docs).tolist()
    float_encoder = retrieval.load_encoder(max_seq_length=args.max_seq_length)
    encoders = {
        "float32": float_encoder,
        "int8": torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(float_encoder), {torch.nn.Linear}, dtype=torch.qint8
        ),
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            encoders["onnx"] = OnnxEncoder(float_encoder, Path(tmp) / "encoder.onnx")
    except ImportError as err:
        print(f"onnx: skipped ({err}); pip install onnxruntime onnx to measure it", flush=True)
    vectors, rates = {}, {}
    for name, encoder in encoders.items():
        retrieval.embed(general[:64], encoder)  # warm up
        start = time.perf_counter()
        vectors[name] = retrieval.embed(general, encoder)
        rates[name] = len(general) / (time.perf_counter() - start)
        print(f"{name:<8} {rates[name]:7.1f} documents/s", flush=True)
    others = [name for name in encoders if name != "float32"]
    recalls = {name: {} for name in others}
    for subdomain in ("physics", "medicine"):
        seeds = docs[docs.split == f"{subdomain}_seed"].text.tolist()
        picks = {}
        for name, encoder in encoders.items():
            index = faiss.IndexFlatIP(vectors[name].shape[1])
            index.add(vectors[name])
            ids, _ = retrieval.dense_ranking(retrieval.embed(seeds, encoder), index, args.k)
            picks[name] = set(ids.tolist())
        for name in others:
            recalls[name][subdomain] = len(picks[name] & picks["float32"]) / args.k
    out = {
        "documents": len(general),
        "max_seq_length": args.max_seq_length,
        "docs_per_s": rates,
        "speedup": {name: rates[name] / rates["float32"] for name in others},
        "mean_cosine_to_float32": {
            name: float((vectors["float32"] * vectors[name]).sum(1).mean()) for name in others
        },
        f"recall_at_{args.k}_vs_float32": recalls,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
